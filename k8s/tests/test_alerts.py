"""PlantSync's alerting rules (k8s/base/33-prometheusrule-plantsync.yaml): `promtool check rules` and
`promtool test rules` (k8s/tests/alerts/plantsync-rules-test.yml) on the manifest's own `spec`, written
to a temporary rules file (one copy of the rules); every overlay deploys them unchanged; the BatchSync
staleness threshold is three intervals of the CronJob's schedule."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import K8S, one, render

RULE_MANIFEST = K8S / "base" / "33-prometheusrule-plantsync.yaml"
RULE_TESTS = Path(__file__).parent / "alerts" / "plantsync-rules-test.yml"
# Every alert the manifest defines; each has firing and silent cases in RULE_TESTS.
ALERTS = {"PlantSyncStreamGapOpen", "PlantSyncConsumerLagHigh", "PlantSyncDeadLetters", "PlantSyncStreamSyncDown",
          "PlantSyncStreamSyncAbsent", "PlantSyncBatchSyncStale", "PlantSyncBatchSyncNoSuccessRecorded"}


def promtool() -> str:
    named = os.environ.get("PLANTSYNC_PROMTOOL")
    if named:
        if not shutil.which(named):
            pytest.fail(f"PLANTSYNC_PROMTOOL={named} is not an executable promtool")
        return shutil.which(named)
    path = shutil.which("promtool") or shutil.which("/usr/bin/promtool")
    if not path:
        pytest.fail("promtool not found (PATH, /usr/bin/promtool, $PLANTSYNC_PROMTOOL): install Debian's "
                    "`prometheus` package (scripts/lib/deps.sh lists it; k8s/tests/run installs it when missing)")
    return path


def manifest() -> dict:
    (doc,) = [d for d in yaml.safe_load_all(RULE_MANIFEST.read_text()) if d]
    return doc


def rules() -> list:
    return [rule for group in manifest()["spec"]["groups"] for rule in group["rules"]]


@pytest.fixture
def rules_dir(tmp_path) -> Path:
    """tmp_path holding plantsync-rules.yml (the manifest's spec) and a copy of the unit tests."""
    (tmp_path / "plantsync-rules.yml").write_text(yaml.safe_dump(manifest()["spec"], sort_keys=False))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    return tmp_path


def run_promtool(*args, cwd):
    result = subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
    return result.stdout


def test_promtool_check_rules(rules_dir):
    out = run_promtool("check", "rules", "plantsync-rules.yml", cwd=rules_dir)
    assert f"{len(rules())} rules found" in out, out


def test_promtool_unit_tests(rules_dir):
    out = run_promtool("test", "rules", RULE_TESTS.name, cwd=rules_dir)
    assert "SUCCESS" in out, out


def test_every_alert_is_unit_tested_firing_and_silent():
    names = {rule["alert"] for rule in rules()}
    assert names == ALERTS
    tests = yaml.safe_load(RULE_TESTS.read_text())
    assert tests["rule_files"] == ["plantsync-rules.yml"], "the tests read the rules extracted from the manifest"
    cases = [case for group in tests["tests"] for case in group["alert_rule_test"]]
    for name in names:
        mine = [c for c in cases if c["alertname"] == name]
        assert any(c["exp_alerts"] for c in mine), f"{name}: no case where it fires"
        assert any(not c["exp_alerts"] for c in mine), f"{name}: no case where it stays silent"


def test_rules_shape():
    """kube-prometheus-stack picks the rules up (release label, as the ServiceMonitor); every alert has
    a severity, a summary and a description naming the fix; PlantSync's metrics are queried by job."""
    doc = manifest()
    assert doc["apiVersion"] == "monitoring.coreos.com/v1" and doc["kind"] == "PrometheusRule"
    sm = yaml.safe_load((K8S / "base" / "32-servicemonitor-streamsync.yaml").read_text())
    assert doc["metadata"]["labels"]["release"] == sm["metadata"]["labels"]["release"]
    for rule in rules():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        for metric in re.findall(r"\b(plantsync_[a-z0-9_]+)\{([^}]*)\}", rule["expr"]):
            assert re.search(r'\bjob="(streamsync|batchsync)"', metric[1]), (rule["alert"], metric)
    for name in ("PlantSyncStreamGapOpen", "PlantSyncConsumerLagHigh", "PlantSyncDeadLetters"):
        description = next(r for r in rules() if r["alert"] == name)["annotations"]["description"]
        assert "--producer-uri" in description and "BatchSync" in description, name


@pytest.mark.parametrize("overlay", ["stg", "prod", "prod-keda"])
def test_every_overlay_deploys_the_rules_unchanged(overlay):
    rendered = one(render(overlay), "PrometheusRule", "plantsync")
    assert rendered["spec"] == manifest()["spec"]
    assert rendered["metadata"]["labels"]["release"] == "prometheus"


def test_batchsync_staleness_is_three_schedule_intervals():
    schedule = one(render("stg"), "CronJob", "batchsync")["spec"]["schedule"]
    match = re.fullmatch(r"\*/(\d+) \* \* \* \*", schedule)
    assert match, f"schedule {schedule!r}: update this check and the alert's threshold together"
    stale = next(r for r in rules() if r["alert"] == "PlantSyncBatchSyncStale")
    (threshold,) = re.findall(r"> (\d+)$", stale["expr"].strip())
    assert int(threshold) == 3 * int(match.group(1)) * 60


def test_gap_alert_threshold_is_ten_minutes():
    gap = next(r for r in rules() if r["alert"] == "PlantSyncStreamGapOpen")
    assert "plantsync_stream_gap_oldest_open_timestamp_seconds" in gap["expr"]
    assert gap["expr"].strip().endswith("> 600")
