#!/usr/bin/env bash
# Sets up a fresh Debian machine for hvctl, builds it, and lists VMs: on the local libvirtd
# when one answers, else on libvirt's built-in test driver (test:///default).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

HVCTL_SKIP_DAEMONS=1 bash scripts/setup-host.sh
make -s build >&2 || { mkdir -p bin && go build -o bin/hvctl ./cmd/hvctl && ln -sf hvctl bin/vmctl; }

uri=test:///default
if bin/hvctl -c qemu:///system --timeout 5s vm list >/dev/null 2>&1; then
	uri=qemu:///system
fi
echo "hvctl: listing VMs on $uri" >&2
exec bin/vmctl -c "$uri" list "$@"
