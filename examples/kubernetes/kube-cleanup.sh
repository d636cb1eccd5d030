#!/bin/sh
# kube-cleanup.sh NAMESPACE POD CONTAINER SESSION_ID
#
# gotty-py's cleanup_command for kube-exec.sh sessions: a second `kubectl exec` that ends
# what the session left running inside the container (kubectl exec leaves the shell running
# when the stream drops; see ../../docs/cleanup.md). Inside the container it
#   1. reads the PID and start time kube-exec.sh recorded for the session,
#   2. checks that the PID still names the same process (start time) and otherwise touches
#      nothing,
#   3. sends HUP, then TERM, then KILL to every process of that terminal session (its
#      process group and the job-control groups of background jobs), waiting in between,
#   4. removes the record.
# Exit status: 0 when nothing of the session is left, 1 otherwise.
set -eu

if [ $# -ne 4 ]; then
    echo "usage: kube-cleanup.sh NAMESPACE POD CONTAINER SESSION_ID" >&2
    exit 2
fi
namespace=$1 pod=$2 container=$3 session=$4
case $session in
    ''|*[!0-9A-Za-z_-]*) echo "kube-cleanup.sh: unsafe session id" >&2; exit 2 ;;
esac

# Runs inside the container ($1 = session id). POSIX sh, busybox-compatible.
cleanup='
session=$1
dir=${GOTTY_STATE_DIR:-/tmp/gotty-sessions}
record=$dir/$session
if [ ! -f "$record" ]; then
    echo "gotty-cleanup: no record for session $session"
    exit 0
fi
read -r leader start < "$record" || true
case $leader in ""|*[!0-9]*) echo "gotty-cleanup: bad record"; rm -f "$record"; exit 1 ;; esac

stat_field() { # field N of /proc/PID/stat counted after the command name (1 = state)
    n=$2
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    set -- ${s##*) }
    eval "echo \${$n}"
}

if [ -d "/proc/$leader" ]; then
    if [ "$(stat_field "$leader" 20)" != "$start" ]; then
        echo "gotty-cleanup: PID $leader is another process now; nothing to do"
        rm -f "$record"
        exit 0
    fi
fi

members() { # the processes whose terminal session is the recorded one
    for d in /proc/[0-9]*; do
        p=${d#/proc/}
        [ "$p" = "$$" ] && continue
        s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        set -- ${s##*) }
        [ "$1" != Z ] && [ "$4" = "$leader" ] && echo "$p"
    done
}

left=""
for sig in HUP TERM KILL; do
    left=$(members)
    [ -z "$left" ] && break
    echo "gotty-cleanup: SIG$sig to" $left
    kill -s "$sig" $left 2>/dev/null || true
    waited=0
    while [ $waited -lt 20 ]; do
        left=$(members)
        [ -z "$left" ] && break
        sleep 0.1
        waited=$((waited + 1))
    done
done
rm -f "$record"
if [ -n "$left" ]; then
    echo "gotty-cleanup: still running:" $left
    exit 1
fi
echo "gotty-cleanup: session $session ended"
'

exec kubectl exec "$pod" -n "$namespace" -c "$container" -- \
    sh -c "$cleanup" gotty-cleanup "$session"
