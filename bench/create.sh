#!/usr/bin/env bash
# Benchmark: `vmctl create --start` from a profile with a base image against `virt-install
# --import` for the same VM (same base image as a qcow2 overlay, same memory, CPU, network),
# in interleaved rounds, each until the domain runs. Needs root, a running libvirtd and the
# test guest (testdata/guest/build.sh). Usage: bench/create.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-7}
uri=qemu:///system
pool=hvbench
pooldir=/var/lib/libvirt/images/hvbench
net=hvbench-net
export PATH=/usr/local/go/bin:$PATH
[[ $(id -u) -eq 0 ]] || { echo "bench: run as root" >&2; exit 2; }
command -v virt-install >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends virtinst >/dev/null

guest=/var/lib/libvirt/images/hvctl-guest
bash testdata/guest/build.sh "$guest" >/dev/null
mkdir -p bin
go build -trimpath -ldflags '-s -w' -o bin/hvctl ./cmd/hvctl
ln -sf hvctl bin/vmctl
tmp=$(mktemp -d)

v() { virsh -c "$uri" -q "$@" >/dev/null 2>&1 || true; }
cleanup_vms() {
	for d in $(virsh -c "$uri" list --all --name | grep -E '^(hb|vi)-[0-9]+$' || true); do
		v destroy "$d"
		v undefine "$d" --nvram --remove-all-storage
	done
}
cleanup_libvirt() {
	cleanup_vms
	v pool-destroy "$pool"; v pool-undefine "$pool"; rm -rf "$pooldir"
	v net-destroy "$net"; v net-undefine "$net"
}
trap 'cleanup_libvirt; rm -rf "$tmp"' EXIT
cleanup_libvirt

# An isolated network (no <forward>) and a pool holding the base image.
cat >"$tmp/net.xml" <<XML
<network><name>$net</name><bridge name='hvbr-bench0' stp='off'/><ip address='10.213.79.1' netmask='255.255.255.0'/></network>
XML
virsh -c "$uri" -q net-define "$tmp/net.xml" >/dev/null && virsh -c "$uri" -q net-start "$net" >/dev/null
mkdir -p "$pooldir"
virsh -c "$uri" -q pool-define-as "$pool" dir --target "$pooldir" >/dev/null && virsh -c "$uri" -q pool-start "$pool" >/dev/null
cp "$guest/guest-disk.qcow2" "$pooldir/base.qcow2"
virsh -c "$uri" -q pool-refresh "$pool" >/dev/null

cat >"$tmp/bench.toml" <<TOML
name = "hb"
domain_type = "qemu"
vcpus = 1
memory = "256MiB"
[disk]
base_image = "$pooldir/base.qcow2"
size = "64MiB"
[[network]]
network = "$net"
[graphics]
type = "none"
TOML

export HVCTL_URI=$uri HVCTL_VM_DEFAULTS_POOL=$pool HVCTL_SYSTEM_CONFIG=/nonexistent XDG_CONFIG_HOME=$tmp
ms() { echo $(( $(date +%s%N) / 1000000 )); }
declare -a th tv dh sq
for ((r = 1; r <= rounds; r++)); do
	s=$(ms)
	bin/vmctl create "$tmp/bench.toml" --name "hb-$r" --start -q >/dev/null
	th+=($(( $(ms) - s )))
	[[ $(virsh -c "$uri" domstate "hb-$r") == running ]] || { echo "bench: hb-$r not running" >&2; exit 1; }

	s=$(ms)
	virt-install --connect "$uri" --name "vi-$r" --virt-type qemu --memory 256 --vcpus 1 \
		--osinfo detect=on,require=off --import \
		--disk "pool=$pool,size=0.0625,backing_store=$pooldir/base.qcow2,backing_format=qcow2,bus=virtio" \
		--network "network=$net,model=virtio" --graphics none --noautoconsole --quiet >/dev/null 2>&1
	tv+=($(( $(ms) - s )))
	[[ $(virsh -c "$uri" domstate "vi-$r") == running ]] || { echo "bench: vi-$r not running" >&2; exit 1; }
	cleanup_vms
	# The tools' own share: define only (virt-install --print-xml plus define is its nearest).
	s=$(ms)
	bin/vmctl create "$tmp/bench.toml" --name "hb-$r" -q >/dev/null
	dh+=($(( $(ms) - s )))
	s=$(ms)
	virsh -c "$uri" -q start "hb-$r" >/dev/null
	sq+=($(( $(ms) - s )))
	cleanup_vms
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mh=$(median "${th[@]}")
mv=$(median "${tv[@]}")
cat <<TABLE
create and start one VM from a base image (qcow2 overlay), $rounds interleaved rounds, median ($(date -u +%F), libvirt $(virsh --version), $(virt-install --version 2>/dev/null | head -1 | sed 's/^/virt-install /'))

| command | wall ms | runs (ms) |
|---|---|---|
| vmctl create --start | $mh | ${th[*]} |
| virt-install --import --noautoconsole | $mv | ${tv[*]} |

vmctl is $(awk -v a="$mv" -v b="$mh" 'BEGIN {printf "%.1f", a / b}')× faster (target ≥ 5×)

Where the time goes: vmctl create without --start takes $(median "${dh[@]}") ms (runs: ${dh[*]}); starting the
defined domain (QEMU process start, the same for both tools) takes $(median "${sq[@]}") ms (virsh start; runs: ${sq[*]}).
TABLE
