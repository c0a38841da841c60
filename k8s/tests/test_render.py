"""Each environment renders (kubectl kustomize) and every object validates offline against the
Kubernetes JSON schemas (kubernetes-validate, strict: unknown fields fail) or, for the CRDs,
against the schemas shipped in k8s/tests/schemas."""

import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from conftest import ENVIRONMENTS, K8S, NAMESPACE, render

# Oldest and newest Kubernetes minors we claim: GKE's oldest supported channel and the newest the
# bundled schemas know.
KUBERNETES_VERSIONS = ["1.30", kubernetes_validate.utils.latest_version()]
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-monitoring-v1.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject-keda-v1alpha1.json",
    ("networking.gke.io/v1", "ManagedCertificate"): "managedcertificate-networking-gke-v1.json",
    ("networking.gke.io/v1beta1", "FrontendConfig"): "frontendconfig-networking-gke-v1beta1.json",
    ("cloud.google.com/v1", "BackendConfig"): "backendconfig-cloud-google-v1.json",
}
# The GKE Ingress's own resources: prod only.
GKE_KINDS = {"ManagedCertificate", "FrontendConfig", "BackendConfig"}
SCHEMAS = Path(__file__).parent / "schemas"


def test_renders_expected_objects(overlay, objects):
    kinds = sorted({o["kind"] for o in objects})
    expected = {"Namespace", "ConfigMap", "Deployment", "Service", "ServiceMonitor", "PrometheusRule", "CronJob",
                "NetworkPolicy"}
    assert expected <= set(kinds), f"k8s/{overlay} renders {kinds}"
    if ENVIRONMENTS[overlay] == "prod":
        assert {"Ingress", "PodDisruptionBudget"} | GKE_KINDS <= set(kinds)
        assert not [o for o in objects if o["kind"] == "Secret"], "prod's Secrets are created out of band"
    else:
        assert "Secret" in kinds and "Ingress" not in kinds
        assert not GKE_KINDS & set(kinds), "stg (minikube) has no GKE load balancer resources"
    assert ("ScaledObject" in kinds) == (overlay == "prod-keda"), "KEDA only in the optional prod-keda overlay"


def test_every_object_in_the_namespace(objects):
    for o in objects:
        if o["kind"] == "Namespace":
            assert o["metadata"]["name"] == NAMESPACE
        else:
            assert o["metadata"].get("namespace") == NAMESPACE, f"{o['kind']}/{o['metadata']['name']}"


def test_unique_objects(objects):
    keys = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_objects_validate_against_kubernetes_schemas(objects, version):
    checked = 0
    for o in objects:
        if (o["apiVersion"], o["kind"]) in CRD_SCHEMAS:
            continue
        try:
            kubernetes_validate.validate(o, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{o['kind']}/{o['metadata']['name']} invalid for Kubernetes {version}: "
                        f"{'.'.join(str(p) for p in error.path)}: {error.message}")
        checked += 1
    assert checked >= 10


def test_custom_resources_validate_against_shipped_schemas(objects):
    kinds = {(o["apiVersion"], o["kind"]) for o in objects if "." in o["apiVersion"].split("/")[0]}
    known_core_groups = {"apps", "batch", "networking.k8s.io", "policy"}
    custom = {k for k in kinds if k[0].split("/")[0] not in known_core_groups}
    unknown = custom - set(CRD_SCHEMAS)
    assert not unknown, f"custom resources without a schema in k8s/tests/schemas: {unknown}"
    for o in objects:
        name = CRD_SCHEMAS.get((o["apiVersion"], o["kind"]))
        if name:
            schema = json.loads((SCHEMAS / name).read_text())
            try:
                jsonschema.validate(o, schema, cls=jsonschema.Draft202012Validator)
            except jsonschema.ValidationError as error:
                pytest.fail(f"{o['kind']}/{o['metadata']['name']}: {list(error.path)}: {error.message}")


def test_crd_schemas_reject_mistakes():
    """The shipped CRD schemas are not vacuous: a typo'd field and a wrong interval fail."""
    sm = next(o for o in render("stg") if o["kind"] == "ServiceMonitor")
    schema = json.loads((SCHEMAS / CRD_SCHEMAS[("monitoring.coreos.com/v1", "ServiceMonitor")]).read_text())
    bad = json.loads(json.dumps(sm))
    bad["spec"]["endpoints"][0]["intervall"] = "15s"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)
    bad = json.loads(json.dumps(sm))
    bad["spec"]["endpoints"][0]["interval"] = "15 seconds"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)
    rule = next(o for o in render("stg") if o["kind"] == "PrometheusRule")
    schema = json.loads((SCHEMAS / CRD_SCHEMAS[("monitoring.coreos.com/v1", "PrometheusRule")]).read_text())
    jsonschema.validate(rule, schema, cls=jsonschema.Draft202012Validator)
    bad = json.loads(json.dumps(rule))
    bad["spec"]["groups"][0]["rules"][0]["annotation"] = bad["spec"]["groups"][0]["rules"][0].pop("annotations")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)
    bad = json.loads(json.dumps(rule))
    bad["spec"]["groups"][0]["rules"][1]["for"] = "15 minutes"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)
    so = next(o for o in render("prod-keda") if o["kind"] == "ScaledObject")
    schema = json.loads((SCHEMAS / CRD_SCHEMAS[("keda.sh/v1alpha1", "ScaledObject")]).read_text())
    bad = json.loads(json.dumps(so))
    bad["spec"]["triggers"][0]["metadata"]["consumergroup"] = bad["spec"]["triggers"][0]["metadata"].pop("consumerGroup")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)


def schema_for(obj):
    return json.loads((SCHEMAS / CRD_SCHEMAS[(obj["apiVersion"], obj["kind"])]).read_text())


def mutated(obj, change):
    copy = json.loads(json.dumps(obj))
    change(copy)
    return copy


@pytest.mark.parametrize("kind, change", [
    ("ManagedCertificate", lambda o: o["spec"].update(domains=["https://plantsync.example.com"])),
    ("ManagedCertificate", lambda o: o["spec"].update(domains=["a" * 60 + ".example.com"])),
    ("ManagedCertificate", lambda o: o["spec"].update(domains=[])),
    ("ManagedCertificate", lambda o: o["spec"].update(domain=o["spec"].pop("domains"))),
    ("FrontendConfig", lambda o: o["spec"].update(redirectToHTTPS=o["spec"].pop("redirectToHttps"))),
    ("FrontendConfig", lambda o: o["spec"]["redirectToHttps"].update(enabled="true")),
    ("FrontendConfig", lambda o: o["spec"]["redirectToHttps"].update(responseCodeName="301")),
    ("BackendConfig", lambda o: o["spec"]["iap"].update(enabled="true")),
    ("BackendConfig", lambda o: o["spec"]["iap"].update(oauthClientCredentials=o["spec"]["iap"].pop("oauthclientCredentials"))),
    ("BackendConfig", lambda o: o["spec"]["iap"]["oauthclientCredentials"].pop("secretName")),
    ("BackendConfig", lambda o: o["spec"]["customResponseHeaders"].update(headers=["Strict-Transport-Security max-age=1"])),
    ("BackendConfig", lambda o: o["spec"]["healthCheck"].update(requestPath="readyz")),
])
def test_gke_schemas_reject_mistakes(kind, change):
    """The GKE resources' schemas are not vacuous: each typo'd field or wrong value fails, while the
    manifest itself passes."""
    (obj,) = [o for o in render("prod") if o["kind"] == kind]
    schema = schema_for(obj)
    jsonschema.validate(obj, schema, cls=jsonschema.Draft202012Validator)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(mutated(obj, change), schema, cls=jsonschema.Draft202012Validator)


def test_core_validation_is_strict():
    """kubernetes-validate in strict mode rejects an unknown field (the check above is not vacuous)."""
    dep = json.loads(json.dumps(next(o for o in render("stg") if o["kind"] == "Deployment")))
    dep["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, KUBERNETES_VERSIONS[0], strict=True)


def kustomization_dirs():
    return sorted(p.parent for p in K8S.rglob("kustomization.yaml"))


@pytest.mark.parametrize("directory", kustomization_dirs(), ids=lambda p: str(p.relative_to(K8S)))
def test_one_object_per_numbered_file(directory):
    """LIMS convention: one object per YAML file, named NN-kind-name.yaml; patches are patch-*.yaml;
    every file is used by the kustomization (no stray manifests)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    used = set()
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            assert (path / "kustomization.yaml").exists(), f"{entry} is not a kustomization"
            continue
        used.add(path.name)
        assert re.fullmatch(r"\d\d-[a-z0-9]+(-[a-z0-9]+)*(\.example)?\.yaml", path.name), path.name
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        assert len(docs) == 1, f"{path.name} holds {len(docs)} objects"
        kind = docs[0]["kind"].lower()
        assert path.name[3:].startswith(kind + "-"), f"{path.name} holds a {docs[0]['kind']}"
        assert path.name.removesuffix(".yaml").removesuffix(".example").endswith("-" + docs[0]["metadata"]["name"])
    for patch in kustomization.get("patches", []):
        if "path" in patch:
            used.add(patch["path"])
            assert patch["path"].startswith("patch-"), patch["path"]
    numbers = sorted(name[:2] for name in used if name[:2].isdigit())
    assert len(numbers) == len(set(numbers)), f"duplicate file numbers in {directory}: {numbers}"
    stray = {p.name for p in directory.glob("*.yaml")} - used - {"kustomization.yaml"}
    assert not stray, f"files not in {directory}/kustomization.yaml: {stray}"


def test_env_label_and_variable(overlay, objects):
    env = ENVIRONMENTS[overlay]
    for o in objects:
        assert o["metadata"].get("labels", {}).get("env") == env, f"{o['kind']}/{o['metadata']['name']}"
        if o["kind"] == "Deployment":
            assert o["spec"]["template"]["metadata"]["labels"]["env"] == env
        if o["kind"] == "CronJob":
            assert o["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]["env"] == env
    config = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "plantsync-config")
    assert config["data"]["ENV"] == env
