#!/bin/sh
# Install the foreign SOAP stacks tests/test_foreign_stacks.py drives against the emulator:
# node-soap (the npm registry, pinned in tests/foreign/node/package-lock.json) and JAX-WS's
# wsimport with a JDK (Debian's jaxws and default-jdk-headless). zeep and suds-community come
# with the Python test extras. Installing Debian packages needs root (the dev machines and
# CI run as root); without root, or without node, it only warns and those tests skip.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
if command -v npm >/dev/null 2>&1; then
    if [ ! -d "$here/tests/foreign/node/node_modules/soap" ]; then
        (cd "$here/tests/foreign/node" && npm ci --no-audit --no-fund --loglevel=error)
    fi
else
    echo "install-foreign-stacks: npm is missing, so the node-soap test will be skipped" >&2
fi
if command -v wsimport >/dev/null 2>&1 && command -v javac >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-foreign-stacks: wsimport or javac is missing and we are not root, so the" >&2
    echo "  JAX-WS test will be skipped; install Debian's 'jaxws' and 'default-jdk-headless'." >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends jaxws default-jdk-headless
command -v wsimport >/dev/null
