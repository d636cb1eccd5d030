#!/bin/sh
# Install Debian's Chromium when it is missing (browser tests drive it through Playwright).
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "chromium is missing: run 'sudo apt-get install -y chromium' (browser tests need it)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Another apt or dpkg may hold the package lock on a fresh machine (unattended upgrades, a
# parallel install): wait for it rather than fail.
LOCK_WAIT="-o DPkg::Lock::Timeout=600"
apt-get $LOCK_WAIT update -qq
apt-get $LOCK_WAIT install -y -qq chromium >/dev/null
