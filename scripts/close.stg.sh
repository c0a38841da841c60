#!/usr/bin/env bash
# stg (minikube, context minikube): Ends exactly the port-forwards that open recorded, by PID (scripts/lib/k8s.sh, k8s_close).
# Override the context with PLANTSYNC_KUBE_CONTEXT. See docs/deployment.md.
set -euo pipefail
# shellcheck source=scripts/lib/k8s.sh
source "$(dirname "$0")/lib/k8s.sh"
k8s_close stg
