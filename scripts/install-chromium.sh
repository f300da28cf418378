#!/bin/sh
# Install Debian's headless-capable Chromium for the browser tests and the screenshots.
# Does nothing when /usr/bin/chromium is already there. Installing needs root (the dev
# machines and CI run as root); without root it only warns, and the browser tests skip.
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-chromium: /usr/bin/chromium is missing and we are not root, so the" >&2
    echo "  browser tests will be skipped; install Debian's 'chromium' package to run them." >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
test -x /usr/bin/chromium
