#!/bin/sh
# apt-get "$@", waiting while another apt or dpkg holds a package lock, up to a deadline.
#
# `-o DPkg::Lock::Timeout` makes apt-get wait for dpkg's locks (install), but `apt-get
# update` fails at once on the lists lock (/var/lib/apt/lists/lock) that unattended
# upgrades hold on a fresh cloud machine. So a run that fails with apt's lock message is
# retried until APT_LOCK_WAIT seconds (default 600) have passed since the first; any other
# failure is returned at once, with apt-get's own exit status.
set -u
wait_total=${APT_LOCK_WAIT:-600}
interval=${APT_LOCK_RETRY_INTERVAL:-5}
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
deadline=$(( $(date +%s) + wait_total ))
while :; do
    remaining=$(( deadline - $(date +%s) ))
    [ "$remaining" -gt 0 ] || remaining=0
    status=0
    apt-get -o DPkg::Lock::Timeout="$remaining" "$@" 2>"$errors" || status=$?
    cat "$errors" >&2
    if [ "$status" -eq 0 ]; then
        exit 0
    fi
    if ! grep -q -e 'Could not get lock' -e 'Unable to lock' -e 'Unable to acquire the dpkg' \
            "$errors"; then
        exit "$status"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "apt-get $*: another apt or dpkg still holds the package lock after" \
             "$wait_total s (APT_LOCK_WAIT); giving up" >&2
        exit "$status"
    fi
    echo "apt-get $*: another apt or dpkg holds the package lock; retrying for up to" \
         "$(( deadline - $(date +%s) )) s more" >&2
    sleep "$interval"
done
