#!/bin/sh
# kube-exec.sh NAMESPACE POD CONTAINER [SHELL]
#
# The command gotty-py runs for a Kubernetes web console session. It enters the container
# with `kubectl exec -it` through a tiny sh preamble that, inside the container,
#   1. records the shell's PID and start time in $GOTTY_STATE_DIR/<session id>
#      (default /tmp/gotty-sessions), so that kube-cleanup.sh can later find it and make
#      sure it is the same process, and
#   2. becomes the requested shell (exec keeps the PID), falling back to bash, then sh.
# The exec'd process is the leader of its terminal session inside the container, so the
# recorded PID names the session of everything the user starts there.
#
# Needs: kubectl on PATH (KUBECONFIG or in-cluster credentials), GOTTY_SESSION_ID (set by
# gotty-py for every session).
set -eu

if [ $# -lt 3 ]; then
    echo "usage: kube-exec.sh NAMESPACE POD CONTAINER [SHELL]" >&2
    exit 2
fi
namespace=$1 pod=$2 container=$3 shell=${4:-bash}
session=${GOTTY_SESSION_ID:?GOTTY_SESSION_ID is not set: run kube-exec.sh under gotty-py}
case $session in
    ''|*[!0-9A-Za-z_-]*) echo "kube-exec.sh: unsafe session id" >&2; exit 2 ;;
esac
case $shell in
    bash|sh|ash|zsh|dash|/bin/bash|/bin/sh|/bin/ash|/bin/zsh|/bin/dash) ;;
    *) echo "kube-exec.sh: shell must be one of bash, sh, ash, zsh, dash" >&2; exit 2 ;;
esac

# Runs inside the container ($1 = session id, $2 = shell). POSIX sh, busybox-compatible.
preamble='
session=$1 shell=$2
dir=${GOTTY_STATE_DIR:-/tmp/gotty-sessions}
umask 077
mkdir -p "$dir" 2>/dev/null || true
stat=$(cat /proc/$$/stat)
set -- ${stat##*) }
shift 19
echo "$$ $1" > "$dir/$session" 2>/dev/null || echo "gotty: cannot record session in $dir" >&2
for candidate in "$shell" bash sh; do
    if command -v "$candidate" >/dev/null 2>&1; then
        exec "$candidate"
    fi
done
echo "gotty: no shell found in this container" >&2
exit 127
'

exec kubectl exec -it "$pod" -n "$namespace" -c "$container" -- \
    sh -c "$preamble" gotty-session "$session" "$shell"
