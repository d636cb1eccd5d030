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
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
