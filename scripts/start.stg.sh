#!/usr/bin/env bash
# stg (minikube, context minikube): Deploys PlantSync: checks kubectl, the context and the prerequisites, applies the kustomize overlay, starts one BatchSync run and waits for StreamSync (scripts/lib/k8s.sh, k8s_start).
# Override the context with PLANTSYNC_KUBE_CONTEXT. See docs/deployment.md.
set -euo pipefail
# shellcheck source=scripts/lib/k8s.sh
source "$(dirname "$0")/lib/k8s.sh"
k8s_start stg
