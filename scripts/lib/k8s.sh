# shellcheck shell=bash
# Shared code of scripts/{start,stop,open,close}.<env>.sh (LIMS's per-environment scripts).
# Every kubectl call names the context and the namespace explicitly (the current context is never
# switched) and is printed before it runs. Callers run under `set -euo pipefail`.
#
# Environment overrides:
#   PLANTSYNC_KUBE_CONTEXT     kubectl context (default: stg -> minikube, prod -> lims-prod)
#   PLANTSYNC_RUN_DIR          where open.<env>.sh records port-forward PIDs and logs (default: run/)
#   PLANTSYNC_ROLLOUT_TIMEOUT  how long start.<env>.sh waits for StreamSync (default: 180s)

PLANTSYNC_K8S_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PLANTSYNC_NAMESPACE=leaf-image-management-system
PLANTSYNC_MONITORING_NAMESPACE=metrics
PLANTSYNC_PART_OF_SELECTOR=app.kubernetes.io/part-of=plantsync
PLANTSYNC_SECRET=plantsync-stores
# prod: the OAuth client of Identity-Aware Proxy (k8s/prod/35-backendconfig-streamsync.yaml), also
# created out of band.
PLANTSYNC_IAP_SECRET=streamsync-iap-oauth
# prod: the GKE Ingress's own resources (present on every GKE cluster with HTTP load balancing).
PLANTSYNC_GKE_CRDS=(managedcertificates.networking.gke.io frontendconfigs.networking.gke.io backendconfigs.cloud.google.com)

# Port-forwards of open.<env>.sh: namespace, service, local port, service port, what it is.
PLANTSYNC_FORWARDS=(
    "$PLANTSYNC_NAMESPACE streamsync 8080 80 StreamSync read API"
    "$PLANTSYNC_NAMESPACE streamsync 9464 8080 StreamSync /metrics"
    "$PLANTSYNC_MONITORING_NAMESPACE prometheus-grafana 3000 80 Grafana"
    "$PLANTSYNC_MONITORING_NAMESPACE prometheus-kube-prometheus-prometheus 9090 9090 Prometheus"
    "$PLANTSYNC_MONITORING_NAMESPACE prometheus-pushgateway 9091 9091 Pushgateway"
)

k8s_log() { printf '==> %s\n' "$*"; }
k8s_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# k8s_init ENV: checks kubectl and the environment's context; sets PLANTSYNC_ENV and
# PLANTSYNC_CONTEXT.
k8s_init() {
    local default_context contexts
    PLANTSYNC_ENV=${1:?environment}
    case "$PLANTSYNC_ENV" in
        stg) default_context=minikube ;;
        prod) default_context=lims-prod ;;
        *) k8s_die "unknown environment '$PLANTSYNC_ENV' (stg or prod)" ;;
    esac
    PLANTSYNC_CONTEXT=${PLANTSYNC_KUBE_CONTEXT:-$default_context}
    command -v kubectl >/dev/null 2>&1 || k8s_die "kubectl not found on PATH"
    contexts=$(kubectl config get-contexts -o name) || k8s_die "kubectl cannot list its contexts"
    if ! grep -qxF -- "$PLANTSYNC_CONTEXT" <<<"$contexts"; then
        k8s_die "kubectl context '$PLANTSYNC_CONTEXT' not found (have: $(tr '\n' ' ' <<<"$contexts")); set PLANTSYNC_KUBE_CONTEXT"
    fi
    k8s_log "environment $PLANTSYNC_ENV: context $PLANTSYNC_CONTEXT, namespace $PLANTSYNC_NAMESPACE"
}

# k8s_kubectl ARGS...: kubectl in the environment's context and namespace, printed first.
k8s_kubectl() {
    printf '+ kubectl --context %s -n %s %s\n' "$PLANTSYNC_CONTEXT" "$PLANTSYNC_NAMESPACE" "$*"
    kubectl --context "$PLANTSYNC_CONTEXT" -n "$PLANTSYNC_NAMESPACE" "$@"
}

# k8s_has_crd NAME: whether the cluster knows the custom resource (quiet).
k8s_has_crd() {
    kubectl --context "$PLANTSYNC_CONTEXT" get crd "$1" >/dev/null 2>&1
}

k8s_overlay_dir() {
    if [ "$PLANTSYNC_ENV" = prod ] && k8s_has_crd scaledobjects.keda.sh; then
        echo "$PLANTSYNC_K8S_ROOT/k8s/prod-keda"
    else
        echo "$PLANTSYNC_K8S_ROOT/k8s/$PLANTSYNC_ENV"
    fi
}

# start.<env>.sh: checks, apply the overlay, one BatchSync run right away (as LIMS's synchronizer did
# after deployment), wait for StreamSync.
k8s_start() {
    local dir job
    k8s_init "$1"
    k8s_log "checking that kube-prometheus-stack's ServiceMonitor CRD exists"
    k8s_has_crd servicemonitors.monitoring.coreos.com \
        || k8s_die "CRD servicemonitors.monitoring.coreos.com missing: install kube-prometheus-stack (release 'prometheus', namespace '$PLANTSYNC_MONITORING_NAMESPACE') first"
    if [ "$PLANTSYNC_ENV" = prod ]; then
        local crd secret
        k8s_log "checking that the GKE Ingress CRDs exist (ManagedCertificate, FrontendConfig, BackendConfig)"
        for crd in "${PLANTSYNC_GKE_CRDS[@]}"; do
            k8s_has_crd "$crd" \
                || k8s_die "CRD $crd missing: prod needs GKE with HTTP load balancing (docs/deployment.md, \"TLS\")"
        done
        for secret in "$PLANTSYNC_SECRET" "$PLANTSYNC_IAP_SECRET"; do
            k8s_log "checking that Secret $secret exists (created out of band, docs/deployment.md)"
            k8s_kubectl get secret "$secret" -o name \
                || k8s_die "Secret $secret missing in $PLANTSYNC_NAMESPACE: create it first (docs/deployment.md)"
        done
    fi
    dir=$(k8s_overlay_dir)
    case "$dir" in
        */prod-keda) k8s_log "KEDA found: applying the prod overlay with the ScaledObject" ;;
        */prod) k8s_log "KEDA not found: applying prod with fixed replicas (no ScaledObject)" ;;
    esac
    k8s_log "applying ${dir#"$PLANTSYNC_K8S_ROOT"/}"
    k8s_kubectl apply -k "$dir"
    job="batchsync-start-$(date -u +%Y%m%d%H%M%S)"
    k8s_log "starting one BatchSync run now: job $job"
    k8s_kubectl create job "$job" --from=cronjob/batchsync
    k8s_log "waiting for StreamSync to become ready"
    k8s_kubectl rollout status deployment/streamsync --timeout="${PLANTSYNC_ROLLOUT_TIMEOUT:-180s}"
    k8s_log "started PlantSync in $PLANTSYNC_ENV; next: scripts/open.$PLANTSYNC_ENV.sh"
}

# stop.<env>.sh: deletes what start applied, selected by the label every PlantSync object carries.
# Never deletes the namespace (LIMS lives there) nor objects without the label (e.g. prod's
# out-of-band Secrets; the reserved address of the Ingress is not a Kubernetes object at all).
k8s_stop() {
    local kinds=ingress,cronjob,job,deployment,poddisruptionbudget,service,networkpolicy,configmap,secret
    k8s_init "$1"
    if k8s_has_crd scaledobjects.keda.sh; then
        k8s_kubectl delete scaledobject -l "$PLANTSYNC_PART_OF_SELECTOR" --ignore-not-found
    fi
    # kube-prometheus-stack's kinds: the ServiceMonitor and the PrometheusRule (k8s/base/32-, 33-).
    local monitoring
    for monitoring in servicemonitor prometheusrule; do
        if k8s_has_crd "${monitoring}s.monitoring.coreos.com"; then
            k8s_kubectl delete "$monitoring" -l "$PLANTSYNC_PART_OF_SELECTOR" --ignore-not-found
        fi
    done
    # The GKE Ingress's resources (by their full resource names), after the Ingress that uses them;
    # the kinds exist on GKE only.
    local crd gke_kinds=()
    for crd in "${PLANTSYNC_GKE_CRDS[@]}"; do
        if k8s_has_crd "$crd"; then gke_kinds+=("$crd"); fi
    done
    k8s_kubectl delete "$kinds" -l "$PLANTSYNC_PART_OF_SELECTOR" --ignore-not-found
    if [ "${#gke_kinds[@]}" -gt 0 ]; then
        k8s_kubectl delete "$(IFS=,; echo "${gke_kinds[*]}")" -l "$PLANTSYNC_PART_OF_SELECTOR" --ignore-not-found
    fi
    k8s_log "stopped PlantSync in $PLANTSYNC_ENV (namespace $PLANTSYNC_NAMESPACE kept: LIMS runs there)"
}

k8s_run_dir() {
    local dir=${PLANTSYNC_RUN_DIR:-$PLANTSYNC_K8S_ROOT/run}
    mkdir -p "$dir"
    echo "$dir"
}

k8s_pid_file() { echo "$(k8s_run_dir)/port-forward.$PLANTSYNC_ENV.pids"; }

# k8s_is_port_forward PID: the process exists and is a kubectl port-forward (guards against a PID
# recycled since it was recorded).
k8s_is_port_forward() {
    local args
    args=$(ps -o args= -p "$1" 2>/dev/null) || return 1
    [[ "$args" == *port-forward* ]]
}

# k8s_kill_recorded FILE: ends exactly the PIDs recorded in FILE (first field of each line).
k8s_kill_recorded() {
    local file=$1 pid what
    while read -r pid what; do
        [ -n "$pid" ] || continue
        if k8s_is_port_forward "$pid"; then
            k8s_log "ending port-forward $what (pid $pid)"
            kill "$pid" 2>/dev/null || true
        else
            k8s_log "pid $pid ($what) is no longer a running port-forward: skipped"
        fi
    done <"$file"
}

# open.<env>.sh: one background `kubectl port-forward` per service; PIDs recorded for close.<env>.sh.
k8s_open() {
    local pid_file run_dir entry ns svc local_port remote_port what pid log ns_svc address failed=0
    k8s_init "$1"
    pid_file=$(k8s_pid_file)
    run_dir=$(k8s_run_dir)
    if [ -s "$pid_file" ]; then
        while read -r pid _; do
            if k8s_is_port_forward "$pid"; then
                k8s_die "port-forwards already open ($pid_file); run scripts/close.$PLANTSYNC_ENV.sh first"
            fi
        done <"$pid_file"
        rm -f "$pid_file"
    fi
    : >"$pid_file"
    for entry in "${PLANTSYNC_FORWARDS[@]}"; do
        read -r ns svc local_port remote_port what <<<"$entry"
        log="$run_dir/port-forward.$PLANTSYNC_ENV.$svc.$local_port.log"
        printf '+ kubectl --context %s -n %s port-forward svc/%s %s:%s &\n' \
            "$PLANTSYNC_CONTEXT" "$ns" "$svc" "$local_port" "$remote_port"
        kubectl --context "$PLANTSYNC_CONTEXT" -n "$ns" port-forward "svc/$svc" "$local_port:$remote_port" \
            </dev/null >"$log" 2>&1 &
        pid=$!
        echo "$pid $ns/$svc localhost:$local_port $what" >>"$pid_file"
    done
    sleep "${PLANTSYNC_OPEN_SETTLE_SECONDS:-2}"
    while read -r pid ns_svc address what; do
        if ! kill -0 "$pid" 2>/dev/null; then
            printf 'error: port-forward %s (pid %s) ended:\n' "$ns_svc" "$pid" >&2
            sed 's/^/    /' "$run_dir/port-forward.$PLANTSYNC_ENV.${ns_svc#*/}.${address#localhost:}.log" >&2 || true
            failed=1
        fi
    done <"$pid_file"
    if [ "$failed" -ne 0 ]; then
        k8s_kill_recorded "$pid_file"
        rm -f "$pid_file"
        k8s_die "could not open every port-forward; the others were ended"
    fi
    k8s_log "port-forwards running (PIDs in ${pid_file#"$PLANTSYNC_K8S_ROOT"/}):"
    while read -r pid ns_svc address what; do
        printf '    http://%s  %s (%s, pid %s)\n' "$address" "$what" "$ns_svc" "$pid"
    done <"$pid_file"
    k8s_log "end them with scripts/close.$PLANTSYNC_ENV.sh"
}

# close.<env>.sh: ends the port-forwards open.<env>.sh recorded, and nothing else.
k8s_close() {
    local pid_file
    k8s_init "$1"
    pid_file=$(k8s_pid_file)
    if [ ! -f "$pid_file" ]; then
        k8s_log "no port-forwards recorded for $PLANTSYNC_ENV ($pid_file): nothing to close"
        return 0
    fi
    k8s_kill_recorded "$pid_file"
    rm -f "$pid_file"
    k8s_log "closed the port-forwards of $PLANTSYNC_ENV"
}
