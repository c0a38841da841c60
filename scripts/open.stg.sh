#!/usr/bin/env bash
# stg (minikube, context minikube): Runs one background kubectl port-forward per service (StreamSync, Grafana, Prometheus, Pushgateway) and records their PIDs in run/port-forward.stg.pids (scripts/lib/k8s.sh, k8s_open).
# Override the context with PLANTSYNC_KUBE_CONTEXT. See docs/deployment.md.
set -euo pipefail
# shellcheck source=scripts/lib/k8s.sh
source "$(dirname "$0")/lib/k8s.sh"
k8s_open stg
