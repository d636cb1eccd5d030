"""What runs in the container besides the user's command: the record and the cleanup.

Rules of this module: both are POSIX `sh` (busybox is enough) given as `sh -c SCRIPT NAME
ARGS...`, so no word of a token or a session ever passes through a shell parser. The
record wraps the command: it writes the shell's PID and its start time (field 22 of
/proc/PID/stat) to `$GOTTY_STATE_DIR/<session id>` (default /tmp/gotty-sessions) and then
becomes the command (`exec` keeps the PID, which leads the exec's terminal session). It
fails closed: without a record nothing could end the session later, so nothing starts.
The cleanup reads the record, checks that the PID still names the same process, sends HUP,
TERM and KILL to every process of that terminal session, and removes the record. The same
procedure as examples/kubernetes/ (kube-exec.sh, kube-cleanup.sh) follows for the kubectl
backend; here it needs no script in the image and no kubectl.
"""

from __future__ import annotations

from collections.abc import Sequence

STATE_DIR = "/tmp/gotty-sessions"
# Exit statuses of the scripts themselves (the command's own are passed through).
NOT_RECORDED = 125  # the record could not be written: the command was not started
CLEANUP_LEFT = 1  # processes of the session are still running after KILL
CLEANUP_NO_RECORD = 3  # no record for the session (never written, or removed by someone)
# Shells the record falls back from (to `sh`) when the container does not have them.
SHELLS = ("bash", "zsh", "ash", "dash", "ksh", "fish")

RECORD = r"""
session=$1; shift
dir=${GOTTY_STATE_DIR:-/tmp/gotty-sessions}
umask 077
mkdir -p "$dir" 2>/dev/null
start_time() { s=$(cat /proc/$$/stat) || return 1; set -- ${s##*) }; shift 19; echo "$1"; }
start=$(start_time) && echo "$$ $start" > "$dir/$session" 2>/dev/null || {
    echo "gotty: cannot record the session in $dir (set GOTTY_STATE_DIR to a writable" \
         "directory); not starting" >&2
    exit 125
}
export GOTTY_SESSION_ID="$session"
if [ $# -eq 1 ] && ! command -v "$1" >/dev/null 2>&1; then
    case ${1##*/} in bash|zsh|ash|dash|ksh|fish)
        echo "gotty: $1 is not in this container; starting sh" >&2
        set -- sh ;;
    esac
fi
exec "$@"
"""

CLEANUP = r"""
session=$1
dir=${GOTTY_STATE_DIR:-/tmp/gotty-sessions}
record=$dir/$session
if [ ! -f "$record" ]; then
    echo "gotty-cleanup: no record for session $session"
    exit 3
fi
read -r leader start < "$record" || true
case $leader in ""|*[!0-9]*) echo "gotty-cleanup: bad record"; rm -f "$record"; exit 1 ;; esac
stat_field() { # field N of /proc/PID/stat counted after the command name (1 = state)
    n=$2
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    set -- ${s##*) }
    eval "echo \${$n}"
}
if [ -d "/proc/$leader" ] && [ "$(stat_field "$leader" 20)" != "$start" ]; then
    echo "gotty-cleanup: PID $leader is another process now; nothing to do"
    rm -f "$record"
    exit 0
fi
members() {
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
"""


def recorded(session_id: str, command: Sequence[str]) -> list[str]:
    """The exec's command: the record, then `command` in its place."""
    return ["sh", "-c", RECORD, "gotty-session", session_id, *command]


def cleanup(session_id: str) -> list[str]:
    """The second exec's command: end what the session left, remove its record."""
    return ["sh", "-c", CLEANUP, "gotty-cleanup", session_id]
