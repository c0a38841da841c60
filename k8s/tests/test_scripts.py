"""The env scripts (scripts/{start,stop,open,close}.<env>.sh): shellcheck, and their kubectl calls
and their order, recorded by a fake kubectl on PATH (k8s/tests/fake/kubectl)."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import NAMESPACE, ROOT, one, render

SCRIPTS = ROOT / "scripts"
FAKE = Path(__file__).parent / "fake"
CONTEXT = {"stg": "minikube", "prod": "lims-prod"}
SERVICEMONITOR_CRD = "servicemonitors.monitoring.coreos.com"
PROMETHEUSRULE_CRD = "prometheusrules.monitoring.coreos.com"
KEDA_CRD = "scaledobjects.keda.sh"
GKE_CRDS = ["managedcertificates.networking.gke.io", "frontendconfigs.networking.gke.io",
            "backendconfigs.cloud.google.com"]
FORWARDS = 5  # PLANTSYNC_FORWARDS in scripts/lib/k8s.sh


def shellcheck(*args):
    exe = shutil.which("shellcheck")
    assert exe, "shellcheck missing (k8s/tests/run installs Debian's shellcheck)"
    result = subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def bash_files(directory: Path):
    for path in sorted(directory.rglob("*")):
        if path.is_file() and (path.suffix == ".sh" or path.read_text(errors="replace").startswith("#!/usr/bin/env bash")):
            yield path


def test_shellcheck_every_script_in_scripts():
    """Every shell script in scripts/ passes shellcheck at warning level and above."""
    files = [str(p.relative_to(ROOT)) for p in bash_files(SCRIPTS)]
    assert len(files) >= 10
    shellcheck("-x", "--severity=warning", *files)


def test_shellcheck_deploy_scripts_fully():
    """The deployment scripts, their library and the test helpers pass shellcheck at every level."""
    files = [str(p.relative_to(ROOT)) for p in SCRIPTS.glob("*.sh")]
    files += ["scripts/lib/k8s.sh", "scripts/lib/python.sh", "k8s/tests/run", "k8s/tests/fake/kubectl"]
    assert len(files) == 12
    shellcheck("-x", *files)


@pytest.fixture
def fake(tmp_path):
    """Environment with the fake kubectl first on PATH; .calls() reads what it was asked."""

    class Fake:
        log = tmp_path / "kubectl.log"
        run_dir = tmp_path / "run"
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PLANTSYNC_", "FAKE_KUBECTL_"))},
               "PATH": f"{FAKE}:{os.environ['PATH']}", "FAKE_KUBECTL_LOG": str(tmp_path / "kubectl.log"),
               "PLANTSYNC_RUN_DIR": str(tmp_path / "run"), "PLANTSYNC_OPEN_SETTLE_SECONDS": "1",
               "FAKE_KUBECTL_CRDS": " ".join([SERVICEMONITOR_CRD, PROMETHEUSRULE_CRD, *GKE_CRDS])}

        def run(self, script, **extra):
            return subprocess.run([str(SCRIPTS / script)], env={**self.env, **extra}, capture_output=True,
                                  text=True, timeout=60, cwd="/")

        def calls(self):
            if not self.log.exists():
                return []
            return [line.split(" ", 1)[1] if " " in line else "" for line in self.log.read_text().splitlines()]

        def pids(self, needle):
            return [int(line.split(" ", 1)[0]) for line in self.log.read_text().splitlines() if needle in line]

    yield Fake()
    # Never leave a fake port-forward behind, even when a test failed half-way.
    if (tmp_path / "kubectl.log").exists():
        for line in (tmp_path / "kubectl.log").read_text().splitlines():
            if "port-forward" in line:
                try:
                    os.kill(int(line.split(" ", 1)[0]), signal.SIGTERM)
                except ProcessLookupError:
                    pass


def index_of(calls, needle):
    found = [i for i, c in enumerate(calls) if needle in c]
    assert found, f"no kubectl call with {needle!r} in {calls}"
    return found[0]


def scoped(call, env):
    return call.startswith(f"--context {CONTEXT[env]} -n {NAMESPACE} ")


@pytest.mark.parametrize("env", ["stg", "prod"])
def test_start_checks_then_applies_in_order(fake, env):
    result = fake.run(f"start.{env}.sh")
    assert result.returncode == 0, result.stderr
    calls = fake.calls()
    order = [index_of(calls, "config get-contexts"), index_of(calls, f"get crd {SERVICEMONITOR_CRD}")]
    if env == "prod":
        order += [index_of(calls, f"get crd {crd}") for crd in GKE_CRDS]
        order += [index_of(calls, f"get secret {name}") for name in prod_secrets()]
    order += [index_of(calls, f"apply -k {ROOT}/k8s/{env}"),
              index_of(calls, "create job batchsync-start-"),
              index_of(calls, "rollout status deployment/streamsync")]
    assert order == sorted(order), calls
    assert "--from=cronjob/batchsync" in calls[index_of(calls, "create job")]
    for call in calls:
        if call.split(" ")[0] not in ("config",) and "get crd" not in call:
            assert scoped(call, env), f"kubectl call without the env's context and namespace: {call}"
        assert "delete" not in call and "config use-context" not in call
    # It says what it does.
    assert f"+ kubectl --context {CONTEXT[env]} -n {NAMESPACE} apply -k" in result.stdout


def prod_secrets():
    """The Secrets prod references but does not ship: the stores' URIs and IAP's OAuth client (its
    name taken from the rendered BackendConfig, so the script and the manifest agree)."""
    backend = one(render("prod"), "BackendConfig", "streamsync")
    return ["plantsync-stores", backend["spec"]["iap"]["oauthclientCredentials"]["secretName"]]


def test_start_prod_with_keda_applies_the_keda_overlay(fake):
    result = fake.run("start.prod.sh", FAKE_KUBECTL_CRDS=" ".join([SERVICEMONITOR_CRD, KEDA_CRD, *GKE_CRDS]))
    assert result.returncode == 0, result.stderr
    assert any(c.endswith(f"apply -k {ROOT}/k8s/prod-keda") for c in fake.calls())


@pytest.mark.parametrize("which", [0, 1], ids=["stores", "iap-oauth"])
def test_start_prod_stops_without_a_secret(fake, which):
    secret = prod_secrets()[which]
    result = fake.run("start.prod.sh", FAKE_KUBECTL_NO_SECRET=secret)
    assert result.returncode != 0
    assert f"Secret {secret} missing" in result.stderr
    assert not [c for c in fake.calls() if " apply " in f" {c} "]


@pytest.mark.parametrize("crd", GKE_CRDS)
def test_start_prod_stops_without_the_gke_ingress_crds(fake, crd):
    """Not GKE (or no HTTP load balancing): nothing is applied rather than an Ingress without TLS or
    IAP."""
    crds = [c for c in [SERVICEMONITOR_CRD, *GKE_CRDS] if c != crd]
    result = fake.run("start.prod.sh", FAKE_KUBECTL_CRDS=" ".join(crds))
    assert result.returncode != 0
    assert crd in result.stderr
    assert not [c for c in fake.calls() if " apply " in f" {c} "]


@pytest.mark.parametrize("env", ["stg", "prod"])
def test_start_stops_without_prometheus_operator(fake, env):
    result = fake.run(f"start.{env}.sh", FAKE_KUBECTL_CRDS="")
    assert result.returncode != 0
    assert "kube-prometheus-stack" in result.stderr
    assert not [c for c in fake.calls() if "apply" in c]


@pytest.mark.parametrize("script", ["start.stg.sh", "stop.stg.sh", "open.stg.sh", "close.stg.sh",
                                    "start.prod.sh", "stop.prod.sh", "open.prod.sh", "close.prod.sh"])
def test_every_script_requires_the_context(fake, script):
    result = fake.run(script, FAKE_KUBECTL_CONTEXTS="some-other-cluster")
    assert result.returncode != 0
    assert "context" in result.stderr and "not found" in result.stderr
    assert fake.calls() == ["config get-contexts -o name"], "nothing else is done in a wrong cluster"
    result = fake.run(script, PLANTSYNC_KUBE_CONTEXT="some-other-cluster", FAKE_KUBECTL_CONTEXTS="some-other-cluster")
    assert "context some-other-cluster" in result.stdout, "PLANTSYNC_KUBE_CONTEXT overrides the context"


@pytest.mark.parametrize("script", ["start.stg.sh", "close.prod.sh"])
def test_every_script_requires_kubectl(fake, tmp_path, script):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "grep", "tr", "cat", "date", "mkdir", "ps", "sleep", "sed", "rm", "env"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    result = fake.run(script, PATH=str(bin_dir))
    assert result.returncode != 0
    assert "kubectl not found" in result.stderr


@pytest.mark.parametrize("env", ["stg", "prod"])
def test_stop_deletes_by_label_and_keeps_the_namespace(fake, env):
    result = fake.run(f"stop.{env}.sh", FAKE_KUBECTL_CRDS=f"{SERVICEMONITOR_CRD} {KEDA_CRD}")
    assert result.returncode == 0, result.stderr
    deletes = [c for c in fake.calls() if " delete " in f" {c} "]
    assert deletes and deletes[0].split(" delete ")[1].startswith("scaledobject"), "autoscaler first"
    for call in deletes:
        assert scoped(call, env) and "-l app.kubernetes.io/part-of=plantsync" in call, call
        kinds = call.split(" delete ")[1].split(" ")[0].split(",")
        assert "namespace" not in kinds and "ns" not in kinds, "LIMS's namespace is never deleted"
    assert any("deployment" in c and "cronjob" in c for c in deletes)
    assert not [c for c in deletes if "networking.gke.io" in c], "no GKE kinds where their CRDs are absent"


@pytest.mark.parametrize("overlay", ["stg", "prod", "prod-keda"])
def test_stop_deletes_every_kind_start_applies(fake, overlay):
    """Whatever an overlay renders (what start applies), stop deletes: every object but LIMS's namespace
    carries the label stop selects by, and each kind is among stop's deletes (a CRD kind by its full
    resource name or its lower-case kind), with every CRD present."""
    env = "prod" if overlay.startswith("prod") else "stg"
    crds = [SERVICEMONITOR_CRD, PROMETHEUSRULE_CRD, KEDA_CRD, *GKE_CRDS]
    result = fake.run(f"stop.{env}.sh", FAKE_KUBECTL_CRDS=" ".join(crds))
    assert result.returncode == 0, result.stderr
    deleted = set()
    for call in fake.calls():
        if " delete " in f" {call} " and "-l app.kubernetes.io/part-of=plantsync" in call:
            deleted.update(call.split(" delete ")[1].split(" ")[0].split(","))
    applied = [o for o in render(overlay) if o["kind"] != "Namespace"]
    unlabelled = [f"{o['kind']}/{o['metadata']['name']}" for o in applied
                  if o["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") != "plantsync"]
    assert not unlabelled, f"stop selects by the label; these lack it: {unlabelled}"
    kinds = {o["kind"] for o in applied}
    missed = sorted(k for k in kinds
                    if k.lower() not in deleted and not any(d.startswith(f"{k.lower()}s.") for d in deleted))
    assert not missed, f"k8s/{overlay} applies kinds stop.{env}.sh never deletes: {missed} (deletes: {sorted(deleted)})"


def test_stop_prod_deletes_the_gke_ingress_resources(fake):
    result = fake.run("stop.prod.sh")
    assert result.returncode == 0, result.stderr
    deletes = [c for c in fake.calls() if " delete " in f" {c} "]
    (gke,) = [c for c in deletes if "networking.gke.io" in c]
    assert scoped(gke, "prod") and "-l app.kubernetes.io/part-of=plantsync" in gke
    assert sorted(gke.split(" delete ")[1].split(" ")[0].split(",")) == sorted(GKE_CRDS)
    assert deletes.index(gke) > index_of(deletes, "ingress,"), "after the Ingress that uses them"


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (ended, not yet reaped) is not alive.
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split(") ", 1)[1][0] != "Z"


def wait_dead(pid, seconds=5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)
    return not alive(pid)


@pytest.mark.parametrize("env", ["stg", "prod"])
def test_open_records_pids_and_close_kills_exactly_those(fake, env):
    # Decoys: a port-forward with the very same command line that open did not start, and a sleep.
    decoy_forward = subprocess.Popen([str(FAKE / "kubectl"), "--context", CONTEXT[env], "-n", NAMESPACE,
                                      "port-forward", "svc/streamsync", "8080:80"], env=fake.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    decoy_sleep = subprocess.Popen(["sleep", "60"])
    try:
        result = fake.run(f"open.{env}.sh")
        assert result.returncode == 0, result.stderr
        pid_file = fake.run_dir / f"port-forward.{env}.pids"
        recorded = [int(line.split()[0]) for line in pid_file.read_text().splitlines()]
        assert len(recorded) == FORWARDS and decoy_forward.pid not in recorded
        forwards = [c for c in fake.calls() if "port-forward" in c]
        assert len(forwards) == FORWARDS + 1  # + the decoy
        started = set(fake.pids("port-forward")) - {decoy_forward.pid}
        assert set(recorded) == started, "the recorded PIDs are the port-forward processes themselves"
        assert all(alive(pid) for pid in recorded)
        assert "http://localhost:8080" in result.stdout and "http://localhost:3000" in result.stdout
        assert any(f"-n {NAMESPACE} port-forward svc/streamsync 8080:80" in c for c in forwards)
        assert any("-n metrics port-forward svc/prometheus-grafana 3000:80" in c for c in forwards)

        again = fake.run(f"open.{env}.sh")
        assert again.returncode != 0 and "already open" in again.stderr

        result = fake.run(f"close.{env}.sh")
        assert result.returncode == 0, result.stderr
        assert all(wait_dead(pid) for pid in recorded)
        assert decoy_forward.poll() is None and alive(decoy_forward.pid), "close killed a port-forward it did not start"
        assert decoy_sleep.poll() is None
        assert not pid_file.exists()
        assert not [c for c in fake.calls() if "delete" in c]
        result = fake.run(f"close.{env}.sh")
        assert result.returncode == 0 and "nothing to close" in result.stdout
    finally:
        for process in (decoy_forward, decoy_sleep):
            process.terminate()
            process.wait(timeout=5)


def test_close_skips_a_recycled_pid(fake):
    """A recorded PID that is no longer a port-forward (reused by another process) is left alone."""
    other = subprocess.Popen(["sleep", "60"])
    try:
        fake.run_dir.mkdir(parents=True)
        (fake.run_dir / "port-forward.stg.pids").write_text(f"{other.pid} {NAMESPACE}/streamsync localhost:8080 x\n")
        result = fake.run("close.stg.sh")
        assert result.returncode == 0, result.stderr
        assert "skipped" in result.stdout
        time.sleep(0.2)
        assert other.poll() is None
    finally:
        other.terminate()
        other.wait(timeout=5)


def test_open_fails_whole_when_one_forward_fails(fake):
    result = fake.run("open.stg.sh", FAKE_KUBECTL_FAIL_SVC="prometheus-grafana")
    assert result.returncode != 0
    assert "prometheus-grafana" in result.stderr and "not found" in result.stderr
    started = [pid for pid in fake.pids("port-forward")]
    assert len(started) == FORWARDS
    assert all(wait_dead(pid) for pid in started), "the port-forwards that did start were ended"
    assert not (fake.run_dir / "port-forward.stg.pids").exists()
