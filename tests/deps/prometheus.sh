#!/usr/bin/env bash
# Prometheus and the Pushgateway (Debian packages) for tests/observability/test_prometheus.py.
# Idempotent: apt runs only when a binary is missing. The packages' services are not started here:
# the tests start their own servers on free 127.0.0.1 ports.
set -euo pipefail

missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-pushgateway >/dev/null 2>&1 || missing+=(prometheus-pushgateway)
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "tests/deps/prometheus.sh: ${missing[*]} missing; install them as root: apt-get install ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Package installs must not start the services (they would take ports 9090/9091 on all interfaces).
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    made_policy=1
fi
cleanup() { if [ "$made_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
apt_get() { apt-get -o DPkg::Lock::Timeout=600 -y -q "$@"; }
if ! apt_get install --no-install-recommends "${missing[@]}" >/dev/null; then
    apt_get update >/dev/null
    apt_get install --no-install-recommends "${missing[@]}" >/dev/null
fi
for binary in prometheus prometheus-pushgateway; do
    if ! command -v "$binary" >/dev/null 2>&1; then
        echo "tests/deps/prometheus.sh: $binary is still missing after apt-get install" >&2
        exit 1
    fi
done
