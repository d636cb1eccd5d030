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
# Another apt or dpkg may hold a package lock on a fresh machine (unattended upgrades, a
# parallel install): wait for it, up to APT_LOCK_WAIT seconds (default 600), rather than fail.
# DPkg::Lock::Timeout alone does not cover the lists lock of `apt-get update`.
apt_get="$(dirname "$0")/apt-get-waiting.sh"
"$apt_get" update -qq
# shellcheck disable=SC2086
"$apt_get" install -y -qq $missing >/dev/null
