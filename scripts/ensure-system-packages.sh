#!/bin/sh
# Install the Debian packages the tests drive for real when any is missing: Chromium (the
# browser tests, through Playwright) and redis-server (the shared store of several replicas).
set -eu
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -x /usr/bin/redis-server ] || missing="$missing redis-server"
if [ -z "$missing" ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages:$missing: run 'sudo apt-get install -y$missing'" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Another apt or dpkg may hold the package lock on a fresh machine (unattended upgrades, a
# parallel install): wait for it rather than fail.
LOCK_WAIT="-o DPkg::Lock::Timeout=600"
apt-get $LOCK_WAIT update -qq
# shellcheck disable=SC2086
apt-get $LOCK_WAIT install -y -qq $missing >/dev/null
