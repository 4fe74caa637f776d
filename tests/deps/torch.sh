#!/usr/bin/env bash
# PyTorch for the multi-node example (examples/multinode): Debian's python3-torch (1.13.1) for the
# system interpreter /usr/bin/python3. The example's job runs with that interpreter; trainctl's own
# virtual environment does not need torch. Idempotent: a second run only asks dpkg and finds the module
# (importing torch would take over a second); right after an install the import itself is checked.
set -euo pipefail

installed() {
    dpkg-query -W -f='${Status}' python3-torch 2>/dev/null | grep -q 'install ok installed' \
        && /usr/bin/python3 -c 'import importlib.util as u, sys; sys.exit(u.find_spec("torch") is None)'
}
probe() { /usr/bin/python3 -c 'import torch, torch.distributed as d; assert d.is_gloo_available()' 2>/dev/null; }

if installed; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "tests/deps/torch.sh: python3-torch is missing and installing it needs root:" >&2
    echo "  sudo apt-get install -y python3-torch" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends python3-torch >&2 \
    || { apt-get -o DPkg::Lock::Timeout=600 update >&2 \
         && apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends python3-torch >&2; }
if ! probe; then
    echo "tests/deps/torch.sh: python3-torch installed but /usr/bin/python3 cannot import torch with gloo" >&2
    exit 1
fi
