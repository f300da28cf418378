#!/bin/sh
# Install Debian's headless-capable Chromium for the browser tests and the screenshots.
# Does nothing when /usr/bin/chromium is already there. Needs root (the dev machines and
# CI run as root; elsewhere run it with sudo or install the `chromium` package yourself).
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-chromium: /usr/bin/chromium is missing and we are not root;" >&2
    echo "  install Debian's 'chromium' package (apt-get install chromium) and retry." >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
test -x /usr/bin/chromium
