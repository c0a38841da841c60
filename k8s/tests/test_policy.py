"""Policy assertions over the rendered objects: resources, probes, security, CronJob policy, ports,
Secrets and ConfigMaps by name, Kafka configuration, Ingress (paths, TLS, authentication), the
read-token component, autoscaling and network policies."""

import json
import re

import pytest

from conftest import (ENVIRONMENTS, NAMESPACE, container_env, containers, expand, find, one, pod_spec, render,
                      render_with_components, workloads)

CPU = re.compile(r"^(\d+m|\d+(\.\d+)?)$")
MEMORY = re.compile(r"^\d+(Ki|Mi|Gi)$")


def cpu_millis(value: str) -> float:
    return float(value[:-1]) if value.endswith("m") else float(value) * 1000


def memory_bytes(value: str) -> int:
    number, unit = int(value[:-2]), value[-2:]
    return number * {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}[unit]


def test_requests_and_limits_on_every_container(objects):
    for workload in workloads(objects):
        for c in containers(pod_spec(workload)):
            where = f"{workload['kind']}/{workload['metadata']['name']}/{c['name']}"
            resources = c.get("resources", {})
            for part in ("requests", "limits"):
                assert CPU.match(str(resources.get(part, {}).get("cpu", ""))), f"{where}: {part}.cpu"
                assert MEMORY.match(str(resources.get(part, {}).get("memory", ""))), f"{where}: {part}.memory"
            assert cpu_millis(resources["requests"]["cpu"]) <= cpu_millis(resources["limits"]["cpu"]), where
            assert memory_bytes(resources["requests"]["memory"]) <= memory_bytes(resources["limits"]["memory"]), where


def test_security_context(objects):
    for workload in workloads(objects):
        spec = pod_spec(workload)
        name = f"{workload['kind']}/{workload['metadata']['name']}"
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] > 0, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec.get("automountServiceAccountToken") is False, name
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), name
        for c in containers(spec):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add"), name
            assert not sc.get("privileged"), name
            assert sc.get("runAsNonRoot", True) is True, name
            mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{name}: read-only root needs a writable /tmp"


def test_images_come_from_the_overlay(overlay, objects):
    for workload in workloads(objects):
        for c in containers(pod_spec(workload)):
            image = c["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image
            if ENVIRONMENTS[overlay] == "stg":
                assert image == "plantsync:dev" and c["imagePullPolicy"] == "IfNotPresent"


def http_probe_port(container, probe):
    port = container[probe]["httpGet"]["port"]
    names = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    assert port in names or port in names.values(), f"{probe} port {port} is not a container port"
    return names.get(port, port)


def drain_deadline(container) -> int:
    for arg in container["args"]:
        if arg.startswith("--drain-timeout="):
            return int(arg.split("=", 1)[1])
    pytest.fail("StreamSync is given no --drain-timeout")


def test_streamsync_deployment(overlay, objects):
    dep = one(objects, "Deployment", "streamsync")
    spec = dep["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c.get("startupProbe", c["livenessProbe"])["httpGet"]["path"] == "/healthz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert http_probe_port(c, probe) == 8080
    assert "--http-port=8080" in c["args"]
    # The pod's grace period covers the preStop pause and StreamSync's drain deadline.
    pre_stop = c.get("lifecycle", {}).get("preStop", {})
    pause = int(pre_stop["exec"]["command"][1]) if "exec" in pre_stop else pre_stop.get("sleep", {}).get("seconds", 0)
    assert spec["terminationGracePeriodSeconds"] >= pause + drain_deadline(c) + 10
    # Replicas never exceed the partitions the group reads (idle consumers).
    partitions = int(dep["metadata"]["annotations"]["plantsync/kafka-partitions"])
    if overlay == "prod-keda":
        assert "replicas" not in dep["spec"], "KEDA's HPA owns replicas"
    else:
        assert 1 <= dep["spec"]["replicas"] <= partitions
    if ENVIRONMENTS[overlay] == "prod":
        spread = spec["topologySpreadConstraints"]
        keys = {s["topologyKey"] for s in spread}
        assert "kubernetes.io/hostname" in keys
        for s in spread:
            assert s["labelSelector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
        pdb = one(objects, "PodDisruptionBudget", "streamsync")
        assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
        assert pdb["spec"].get("maxUnavailable") == 1 or pdb["spec"].get("minAvailable")
    else:
        assert dep["spec"]["replicas"] == 1


def test_service_and_servicemonitor(objects):
    dep = one(objects, "Deployment", "streamsync")
    svc = one(objects, "Service", "streamsync")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    ports = {p["name"]: p for p in svc["spec"]["ports"]}
    assert "metrics" in ports and "http" in ports
    container_ports = {p["name"] for p in dep["spec"]["template"]["spec"]["containers"][0]["ports"]}
    for p in ports.values():
        assert p["targetPort"] in container_ports
    sm = one(objects, "ServiceMonitor", "streamsync")
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint == {**endpoint, "port": "metrics", "path": "/metrics", "interval": "15s"}


def test_batchsync_cronjob(objects):
    cj = one(objects, "CronJob", "batchsync")
    spec = cj["spec"]
    assert spec["schedule"] == "*/10 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 0 < spec["startingDeadlineSeconds"] < 600
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    job = spec["jobTemplate"]["spec"]
    assert 0 <= job["backoffLimit"] <= 6
    assert 0 < job["activeDeadlineSeconds"] < 600, "a run ends before the next slot"
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    (c,) = pod["containers"]
    assert c["command"] == ["BatchSync"]
    assert "--interval" not in " ".join(c["args"]), "the CronJob runs one-shot"
    args = [expand(a, container_env(objects, c)) for a in c["args"]]
    pushgateway = [a.split("=", 1)[1] for a in args if a.startswith("--pushgateway=")]
    assert pushgateway and re.fullmatch(r"http://[a-z0-9-]+\.metrics(\.svc(\.cluster\.local)?)?:9091", pushgateway[0])


def test_secrets_referenced_by_name(overlay, objects):
    refs = set()
    for workload in workloads(objects):
        for c in containers(pod_spec(workload)):
            for var in c.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    refs.add((ref["name"], ref["key"]))
            assert not [s for s in c.get("envFrom", []) if "secretRef" in s], "secrets by key, not envFrom"
            for var in c.get("env", []):
                assert "value" not in var or "://" not in var["value"], "no URI (credentials) in plain env"
    assert {name for name, _ in refs} == {"plantsync-stores"}
    secrets = find(objects, "Secret")
    if ENVIRONMENTS[overlay] == "stg":
        (secret,) = secrets
        assert {key for _, key in refs} <= set(secret["stringData"])
        for value in secret["stringData"].values():
            assert "not-a-real-password" in value, "the stg example holds only obviously fake credentials"
    else:
        assert not secrets


def test_configmaps_exist_and_args_resolve(objects):
    for workload in workloads(objects):
        spec = pod_spec(workload)
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                one(objects, "ConfigMap", volume["configMap"]["name"])
        for c in containers(spec):
            env = container_env(objects, c)
            for arg in c.get("args", []) + c.get("command", []):
                expand(arg, env)  # every $(VAR) is defined


def test_kafka_config(overlay, objects):
    env = ENVIRONMENTS[overlay]
    dep = one(objects, "Deployment", "streamsync")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    args = [expand(a, container_env(objects, c)) for a in c["args"]]
    (path,) = [a.split("=", 1)[1] for a in args if a.startswith("--kafka-config=")]
    assert path.endswith(f"/kafka.{env}.json")
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    directory, filename = path.rsplit("/", 1)
    volume = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == mounts[directory])
    cm = one(objects, "ConfigMap", volume["configMap"]["name"])
    config = json.loads(cm["data"][filename])
    assert config["group.id"] == "pepper-potato-tomato-group"
    assert config["auto.offset.reset"] == "earliest"
    assert config["bootstrap.servers"].endswith(f".{NAMESPACE}.svc.cluster.local:9092")
    assert config["client.id"].endswith(env)
    assert all(isinstance(v, str) for v in config.values()), "librdkafka properties are strings"
    topics = [a.split("=", 1)[1] for a in args if a.startswith("--topics=")]
    assert topics == ["potato,tomato,pepper"]


def test_ingress(overlay, objects):
    ingresses = find(objects, "Ingress")
    if ENVIRONMENTS[overlay] != "prod":
        assert not ingresses
        return
    (ing,) = ingresses
    svc = one(objects, "Service", "streamsync")
    port_names = {p["name"] for p in svc["spec"]["ports"]}
    assert "defaultBackend" not in ing["spec"], "no catch-all: only the listed paths reach StreamSync"
    paths = [p for rule in ing["spec"]["rules"] for p in rule["http"]["paths"]]
    assert {p["path"] for p in paths} >= {"/image-plant", "/ping"}
    for p in paths:
        assert p["backend"]["service"]["name"] == "streamsync"
        assert p["backend"]["service"]["port"]["name"] in port_names - {"metrics"}
        assert not p["path"].startswith(("/metrics", "/healthz", "/readyz")), "internal endpoints stay internal"
        # Nothing but the read API: /ping exactly, /image-plant and below (no wildcard, no "/").
        assert (p["path"], p["pathType"]) in {("/ping", "Exact"), ("/image-plant", "Prefix")}, p


def test_ingress_tls(overlay, objects):
    """prod: HTTPS only, with a Google-managed certificate for exactly the host the Ingress serves."""
    if ENVIRONMENTS[overlay] != "prod":
        assert not find(objects, "ManagedCertificate") and not find(objects, "FrontendConfig")
        return
    ing = one(objects, "Ingress", "streamsync")
    annotations = ing["metadata"].get("annotations", {})
    names = [n.strip() for n in annotations["networking.gke.io/managed-certificates"].split(",")]
    domains = {d for n in names for d in one(objects, "ManagedCertificate", n)["spec"]["domains"]}
    hosts = [rule.get("host") for rule in ing["spec"]["rules"]]
    assert hosts and all(hosts), "every rule names its host (the certificate's domain)"
    assert set(hosts) <= domains, f"hosts {hosts} not covered by the certificate's domains {domains}"
    assert not any(h.endswith(".invalid") for h in hosts), "the host placeholder was not replaced"
    assert "tls" not in ing["spec"], "the managed certificate, not a Secret, carries TLS"
    frontend = one(objects, "FrontendConfig", annotations["networking.gke.io/v1beta1.FrontendConfig"])
    redirect = frontend["spec"]["redirectToHttps"]
    assert redirect["enabled"] is True
    assert redirect.get("responseCodeName", "MOVED_PERMANENTLY_DEFAULT") in ("MOVED_PERMANENTLY_DEFAULT", "PERMANENT_REDIRECT")
    # The redirect is served by the HTTP frontend: allow-http "false" would remove it (docs/deployment.md).
    assert annotations.get("kubernetes.io/ingress.allow-http", "true") != "false"
    # A reserved address: the DNS record (and so the certificate) survives re-creating the Ingress.
    assert annotations.get("kubernetes.io/ingress.global-static-ip-name")


def backend_configs(svc) -> dict:
    """Service port name -> BackendConfig name, from the cloud.google.com/backend-config annotation."""
    raw = svc["metadata"].get("annotations", {}).get("cloud.google.com/backend-config")
    if raw is None:
        return {}
    parsed = json.loads(raw)
    ports = dict(parsed.get("ports", {}))
    if "default" in parsed:
        ports.update({p["name"]: parsed["default"] for p in svc["spec"]["ports"] if p["name"] not in ports})
    return ports


def streamsync_args(objects) -> list:
    (c,) = one(objects, "Deployment", "streamsync")["spec"]["template"]["spec"]["containers"]
    return c["args"]


def test_authentication(overlay, objects):
    """prod: Identity-Aware Proxy in front of every Ingress backend, HSTS on its responses; stg: no
    authentication at all (no BackendConfig, no token check)."""
    svc = one(objects, "Service", "streamsync")
    configs = backend_configs(svc)
    args = streamsync_args(objects)
    if ENVIRONMENTS[overlay] != "prod":
        assert not configs and not find(objects, "BackendConfig")
        assert not [a for a in args if a.startswith("--read-token-file")], "stg stays open (port-forward only)"
        return
    ing = one(objects, "Ingress", "streamsync")
    dep = one(objects, "Deployment", "streamsync")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    for rule in ing["spec"]["rules"]:
        for p in rule["http"]["paths"]:
            port = p["backend"]["service"]["port"]["name"]
            assert port in configs, f"Ingress backend port {port} has no BackendConfig"
            bc = one(objects, "BackendConfig", configs[port])
            iap = bc["spec"]["iap"]
            assert iap["enabled"] is True
            assert iap["oauthclientCredentials"]["secretName"]
            assert not find(objects, "Secret", iap["oauthclientCredentials"]["secretName"]), "created out of band"
            headers = dict(h.split(":", 1) for h in bc["spec"]["customResponseHeaders"]["headers"])
            hsts = headers["Strict-Transport-Security"].strip()
            max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))
            assert max_age >= 180 * 24 * 3600, hsts
            # The load balancer's health check is the readiness probe (it does not pass through IAP).
            check = bc["spec"]["healthCheck"]
            assert check["requestPath"] == c["readinessProbe"]["httpGet"]["path"]
            assert check["port"] == http_probe_port(c, "readinessProbe")
    # Behind Google's front ends the peer is the load balancer: the rate limit keys on X-Forwarded-For.
    assert "--trust-forwarded-for" in args


def test_read_token_component():
    """k8s/components/read-token mounts Secret streamsync-read-token as the file --read-token-file
    names, read-only and not world-readable; without it no overlay passes the flag."""
    objects = render_with_components("stg", "read-token")
    dep = one(objects, "Deployment", "streamsync")
    spec = dep["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    (path,) = [a.split("=", 1)[1] for a in c["args"] if a.startswith("--read-token-file=")]
    directory, filename = path.rsplit("/", 1)
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == directory]
    assert mount.get("readOnly") is True
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    secret = volume["secret"]
    assert secret["secretName"] == "streamsync-read-token"
    assert {"key": "token", "path": filename} in secret["items"]
    assert secret["defaultMode"] & 0o007 == 0, "the token file is not world-readable"
    assert not find(objects, "Secret", "streamsync-read-token"), "the token is created out of band"
    # The rest of stg is untouched.
    base = one(render("stg"), "Deployment", "streamsync")["spec"]["template"]["spec"]["containers"][0]
    assert c["args"][:-1] == base["args"]


def test_keda_scaledobject(overlay, objects):
    objs = find(objects, "ScaledObject")
    if overlay != "prod-keda":
        assert not objs
        return
    (so,) = objs
    dep = one(objects, "Deployment", so["spec"]["scaleTargetRef"]["name"])
    partitions = int(dep["metadata"]["annotations"]["plantsync/kafka-partitions"])
    assert 1 <= so["spec"]["minReplicaCount"] <= so["spec"]["maxReplicaCount"] <= partitions
    (trigger,) = so["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == "pepper-potato-tomato-group"
    assert trigger["metadata"].get("allowIdleConsumers", "false") == "false"


ALLOWED_EGRESS_PORTS = {53: "DNS", 9092: "Kafka", 27017: "MongoDB", 5432: "PostgreSQL", 9091: "Pushgateway"}


def selects(policy, labels):
    return policy["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()


def test_network_policies(overlay, objects):
    policies = find(objects, "NetworkPolicy")
    deny = one(objects, "NetworkPolicy", "plantsync-default-deny")
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    for policy in policies:
        assert policy["spec"]["podSelector"].get("matchLabels"), "never select every pod of LIMS's namespace"
        assert policy["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/part-of") == "plantsync"
        for rule in policy["spec"].get("egress", []):
            assert rule.get("to") and rule.get("ports"), f"{policy['metadata']['name']}: egress without peer or port"
            for port in rule["ports"]:
                assert port["port"] in ALLOWED_EGRESS_PORTS, f"egress to port {port['port']}"
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from") and rule.get("ports"), f"{policy['metadata']['name']}: open ingress"
    for workload in workloads(objects):
        labels = (workload["spec"]["template"] if workload["kind"] != "CronJob"
                  else workload["spec"]["jobTemplate"]["spec"]["template"])["metadata"]["labels"]
        applying = [p for p in policies if selects(p, labels)]
        assert deny in applying
        egress_ports = {port["port"] for p in applying for r in p["spec"].get("egress", []) for port in r["ports"]}
        ingress_from = [peer for p in applying for r in p["spec"].get("ingress", []) for peer in r["from"]]
        name = workload["metadata"]["name"]
        if name == "streamsync":
            assert egress_ports == {53, 9092, 27017, 5432}
            for peer in ingress_from:
                if "ipBlock" in peer:
                    assert ENVIRONMENTS[overlay] == "prod", "load balancer ranges only where the Ingress is"
                else:
                    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "metrics"}
            assert ingress_from
        elif name == "batchsync":
            assert egress_ports == {53, 27017, 5432, 9091}
            assert not ingress_from, "nothing connects to BatchSync"
        else:
            pytest.fail(f"no network policy expectations for {name}")


def database_rules(policy) -> list:
    """The policy's egress rules to the database ports (MongoDB, PostgreSQL)."""
    return [r for r in policy["spec"].get("egress", []) if {p["port"] for p in r["ports"]} & {27017, 5432}]


def test_streamsync_reaches_the_producer_as_batchsync_does(objects):
    """Issue #20: StreamSync heals gaps from the producer, so its policy allows every database rule
    BatchSync's has (same peers, same ports), and its env names the producer BatchSync reads."""
    batch_rules = database_rules(one(objects, "NetworkPolicy", "batchsync"))
    stream_rules = database_rules(one(objects, "NetworkPolicy", "streamsync"))
    assert batch_rules
    for rule in batch_rules:
        assert rule in stream_rules, f"StreamSync's policy lacks BatchSync's producer rule {rule}"
    (c,) = one(objects, "Deployment", "streamsync")["spec"]["template"]["spec"]["containers"]
    assert container_env(objects, c)["PLANTSYNC_PRODUCER_URI"] == ("secret", "plantsync-stores",
                                                                   "PLANTSYNC_PRODUCER_URI")


def test_grafana_dashboard():
    """deploy/grafana/plantsync-dashboard.json (imported into LIMS's Grafana) parses and queries
    PlantSync's metrics by the `job` label, batch vs stream as LIMS's dashboard did."""
    from conftest import ROOT
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "plantsync-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs and dashboard["uid"] == "plantsync"
    for expr in exprs:
        bare = re.sub(r"\bby \([^)]*\)|\{[^}]*\}|\[[^\]]*\]", " ", expr)
        names = set(re.findall(r"\b([a-z_:][a-z0-9_:]*)\b(?!\s*\()", bare))
        assert all(n.startswith("plantsync_") or n == "up" for n in names), (expr, names)
    assert any("by (job)" in e for e in exprs)
    # Issue #20's gaps: open per plant, detected by reason, offsets lost, heal duration quantiles.
    for metric in ("plantsync_stream_gaps_open", "plantsync_stream_gaps_total", "plantsync_stream_offsets_lost_total",
                   "plantsync_stream_gap_heal_seconds_bucket", "plantsync_stream_gap_oldest_open_timestamp_seconds"):
        assert any(metric + "{" in e for e in exprs), f"no dashboard panel queries {metric}"
    assert any("by (reason)" in e and "plantsync_stream_gaps_total" in e for e in exprs)
    heal = [e for e in exprs if "plantsync_stream_gap_heal_seconds_bucket" in e]
    assert {e.split(",")[0] for e in heal} == {"histogram_quantile(0.5", "histogram_quantile(0.95"}
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
