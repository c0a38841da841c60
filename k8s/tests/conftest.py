"""Shared fixtures of the deployment tests (run by k8s/tests/run, called from scripts/test).

Environment (set by k8s/tests/run):
  PLANTSYNC_KUBECTL   a kubectl whose `kubectl kustomize` renders the overlays (kustomize v5)
  PLANTSYNC_BIN_PATH  `swift build --show-bin-path`, holding the built BatchSync and StreamSync
"""

import functools
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
NAMESPACE = "leaf-image-management-system"
# Rendered environments: directory under k8s/ -> the `env` it deploys.
ENVIRONMENTS = {"stg": "stg", "prod": "prod", "prod-keda": "prod"}


def kubectl_path() -> str:
    path = os.environ.get("PLANTSYNC_KUBECTL") or shutil.which("kubectl")
    if not path:
        pytest.fail("no kubectl to render the overlays (k8s/tests/run sets PLANTSYNC_KUBECTL)")
    return path


@functools.lru_cache(maxsize=None)
def render(overlay: str) -> tuple:
    """`kubectl kustomize k8s/<overlay>` as a tuple of objects (dicts)."""
    result = subprocess.run(
        [kubectl_path(), "kustomize", str(K8S / overlay)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"kubectl kustomize k8s/{overlay} failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


@functools.lru_cache(maxsize=None)
def render_with_components(overlay: str, *components: str) -> tuple:
    """k8s/<overlay> plus k8s/components/<name>..., rendered through a throwaway kustomization (how
    an operator adds an optional component, e.g. read-token, to an environment)."""
    with tempfile.TemporaryDirectory() as directory:
        rel = lambda path: os.path.relpath(path, directory)
        lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization",
                 f"resources: [{rel(K8S / overlay)}]",
                 f"components: [{', '.join(rel(K8S / 'components' / c) for c in components)}]"]
        (Path(directory) / "kustomization.yaml").write_text("\n".join(lines) + "\n")
        result = subprocess.run([kubectl_path(), "kustomize", directory], capture_output=True, text=True,
                                timeout=120)
    assert result.returncode == 0, f"k8s/{overlay} + {components} failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def find(objects, kind: str, name: str | None = None) -> list:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects, kind: str, name: str) -> dict:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_spec(obj: dict) -> dict | None:
    """The pod template spec of a workload, or None."""
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        return spec["template"]["spec"]
    if obj["kind"] == "Pod":
        return spec
    return None


def workloads(objects) -> list:
    return [o for o in objects if pod_spec(o) is not None]


def containers(spec: dict) -> list:
    return list(spec.get("initContainers", [])) + list(spec.get("containers", []))


VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def container_env(objects, container: dict) -> dict:
    """Name -> value (str) or a ('secret', name, key) tuple, as Kubernetes builds the container's env."""
    env = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            cm = one(objects, "ConfigMap", source["configMapRef"]["name"])
            env.update({source.get("prefix", "") + k: v for k, v in cm.get("data", {}).items()})
        if "secretRef" in source:
            secret = one(objects, "Secret", source["secretRef"]["name"]) if find(
                objects, "Secret", source["secretRef"]["name"]) else None
            for key in (secret or {}).get("stringData", {}):
                env[source.get("prefix", "") + key] = ("secret", source["secretRef"]["name"], key)
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = VAR_REF.sub(lambda m: str(env.get(m.group(1), m.group(0))), var["value"])
        elif "configMapKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["configMapKeyRef"]
            env[var["name"]] = one(objects, "ConfigMap", ref["name"])["data"][ref["key"]]
        elif "secretKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = ("secret", ref["name"], ref["key"])
        else:
            env[var["name"]] = ("field", var["name"])
    return env


def expand(value: str, env: dict) -> str:
    """Kubernetes' $(VAR) expansion of command/args; secrets become <secret:name/key>."""
    def sub(match):
        name = match.group(1)
        assert name in env, f"$({name}) is not in the container's env"
        found = env[name]
        return found if isinstance(found, str) else f"<{found[0]}:{found[1]}/{found[2] if len(found) > 2 else ''}>"
    return VAR_REF.sub(sub, value)


def bin_path() -> Path:
    path = os.environ.get("PLANTSYNC_BIN_PATH")
    if not path:
        result = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True)
        path = result.stdout.strip()
    return Path(path)


def executable(name: str) -> Path:
    exe = bin_path() / name
    if not exe.exists():
        pytest.fail(f"{exe} not built (k8s/tests/run builds it with `swift build --product {name}`)")
    return exe


@pytest.fixture(params=sorted(ENVIRONMENTS), scope="session")
def overlay(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def objects(overlay) -> tuple:
    return render(overlay)
