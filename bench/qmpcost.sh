#!/usr/bin/env bash
# Benchmark: what one running QEMU is asked, and what it costs, for each group of libvirt's bulk
# statistics call (virsh domstats --GROUP, the call `hvctl metrics` makes) against the calls
# prometheus-libvirt-exporter makes per domain (GetInfo, BlockStats per disk, InterfaceStats per
# NIC). For each: the QMP commands libvirtd sends the domain's monitor in one call (from the
# daemon's own debug log, switched on for the run and put back at exit), and over CALLS calls in
# one virsh session the wall time and the CPU time the domain's QEMU spent per call, less its
# idle rate. Each URL given (an exporter's /metrics) is fetched once, and the QMP commands that
# one scrape made libvirtd send, to every domain, are counted. Not a test: not run in CI. Needs root, a running libvirtd and a running QEMU domain
# (bench/metrics.sh's guests, or any); take the e2e lock (flock /tmp/hvctl-e2e.lock) on a shared
# machine.
# Usage: bench/qmpcost.sh DOMAIN [CALLS [URL...]]
set -euo pipefail
dom=${1:?usage: bench/qmpcost.sh DOMAIN [CALLS]}
calls=${2:-200}
shift $(($# < 2 ? $# : 2))
urls=("$@")
uri=${HVCTL_BENCH_URI:-qemu:///system}
[[ $(id -u) -eq 0 ]] || { echo "bench: run as root (it reads the daemon's log settings and QEMU's /proc)" >&2; exit 2; }
[[ $(virsh -c "$uri" domstate "$dom" 2>/dev/null) == running ]] || { echo "bench: $dom is not a running domain on $uri" >&2; exit 2; }
pid=$(cat "/run/libvirt/qemu/$dom.pid")
disk=$(virsh -c "$uri" domblklist "$dom" | awk 'NR > 2 && $1 != "" {print $1; exit}')
nic=$(virsh -c "$uri" domiflist "$dom" | awk 'NR > 2 && $1 != "" && $1 != "-" {print $1; exit}')

tmp=$(mktemp -d)
chmod 0755 "$tmp" # libvirtd writes the log here
filters=$(virt-admin daemon-log-filters | sed -n 's/^ *Logging filters: *//p')
outputs=$(virt-admin daemon-log-outputs | sed -n 's/^ *Logging outputs: *//p')
cleanup() {
	virt-admin daemon-log-filters "$filters" >/dev/null || true
	virt-admin daemon-log-outputs "$outputs" >/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
virt-admin daemon-log-filters "1:qemu.qemu_monitor 4:*" >/dev/null
virt-admin daemon-log-outputs "$outputs 1:file:$tmp/monitor.log" >/dev/null

qemu_cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; } # clock ticks
hz=$(getconf CLK_TCK)
idle_start=$(qemu_cpu)
sleep 5
idle_ticks_per_s=$(awk -v a="$idle_start" -v b="$(qemu_cpu)" 'BEGIN {print (b - a) / 5}')

echo "libvirt $(virsh -c "$uri" version | awk '/^Using library/ {print $NF}'), QEMU $(virsh -c "$uri" version | awk '/^Running hypervisor/ {print $NF}'), domain $dom (QEMU pid $pid), $calls calls each"
echo
echo "| call | QMP commands per call | QEMU CPU ms per call | wall ms per call |"
echo "|---|---|---|---|"
measure() { # measure LABEL VIRSH-COMMAND
	: >"$tmp/monitor.log"
	virsh -c "$uri" -q $2 >/dev/null
	sleep 0.2
	local qmp
	qmp=$({ grep -o 'QEMU_MONITOR_SEND_MSG: .*' "$tmp/monitor.log" || true; } | { grep -o '"execute": *"[a-z-]*"' || true; } | sed 's/.*"\([a-z-]*\)"$/\1/' | paste -sd ' ' -)
	local c0 t0 t1 c1
	c0=$(qemu_cpu)
	t0=$(date +%s%N)
	for ((i = 0; i < calls; i++)); do echo "$2"; done | virsh -c "$uri" -q >/dev/null
	t1=$(date +%s%N)
	c1=$(qemu_cpu)
	awk -v l="$1" -v q="${qmp:-none}" -v n="$(wc -w <<<"$qmp")" -v c="$((c1 - c0))" -v idle="$idle_ticks_per_s" -v hz="$hz" -v w="$((t1 - t0))" -v k="$calls" \
		'BEGIN { s = w / 1e9; cpu = (c - idle * s) / hz * 1000 / k; if (cpu < 0) cpu = 0;
		printf "| %s | %d (%s) | %.2f | %.2f |\n", l, n, q, cpu, w / 1e6 / k }'
}
for g in state cpu-total balloon vcpu interface block; do
	measure "domstats --$g" "domstats --$g $dom"
done
measure "domstats, the metrics' six groups" "domstats --state --cpu-total --balloon --vcpu --interface --block $dom"
measure "exporter: dominfo (GetInfo)" "dominfo $dom"
[[ -n $disk ]] && measure "exporter: domblkstat $disk (BlockStats)" "domblkstat $dom $disk"
[[ -n $nic ]] && measure "exporter: domifstat $nic (InterfaceStats)" "domifstat $dom $nic"
if ((${#urls[@]} > 0)); then
	echo
	echo "| one scrape of | QMP commands | domains asked | commands |"
	echo "|---|---|---|---|"
	for url in "${urls[@]}"; do
		: >"$tmp/monitor.log"
		curl -sf "$url" >/dev/null
		sleep 0.2
		grep -o 'QEMU_MONITOR_SEND_MSG: .*' "$tmp/monitor.log" >"$tmp/sent" || true
		awk -v u="$url" '{ n++; match($0, /mon=0x[0-9a-f]+/); mon[substr($0, RSTART, RLENGTH)] = 1
			match($0, /"execute": *"[a-z-]+"/); c = substr($0, RSTART, RLENGTH); sub(/.*"execute": *"/, "", c); sub(/"$/, "", c); cmd[c]++ }
			END { d = 0; for (m in mon) d++; list = ""; for (c in cmd) list = list (list == "" ? "" : ", ") c " " cmd[c]
			printf "| %s | %d | %d | %s |\n", u, n, d, (list == "" ? "none" : list) }' "$tmp/sent"
	done
fi
echo
echo "QEMU's idle rate, subtracted: $(awk -v t="$idle_ticks_per_s" -v hz="$hz" 'BEGIN {printf "%.1f", t / hz * 1000}') ms CPU per second"
