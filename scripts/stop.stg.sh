#!/usr/bin/env bash
# stg (minikube, context minikube): Deletes what start applied (objects labelled app.kubernetes.io/part-of=plantsync); keeps the namespace (scripts/lib/k8s.sh, k8s_stop).
# Override the context with PLANTSYNC_KUBE_CONTEXT. See docs/deployment.md.
set -euo pipefail
# shellcheck source=scripts/lib/k8s.sh
source "$(dirname "$0")/lib/k8s.sh"
k8s_stop stg
