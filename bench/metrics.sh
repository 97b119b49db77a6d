#!/usr/bin/env bash
# Benchmark: one `hvctl metrics` scrape against `virsh domstats` (all groups), Debian's
# prometheus-libvirt-exporter (one RPC per domain) and a `virsh domstats`-per-domain loop (the bash
# way), on a real libvirtd with N inactive domains (diskless) plus G running TCG test guests
# (the e2e guest ISO as CD-ROM, a NIC on an isolated network of their own), in one run. Reports
# median wall time, peak RSS, series per domain, and `metrics serve` RSS before and after many
# scrapes. Everything it defines is named t-metrics-… and removed at exit. Not a test: not run
# in CI. Needs root, a running libvirtd, curl and the prometheus-libvirt-exporter package; take
# the e2e lock (flock /tmp/hvctl-e2e.lock) on a shared machine.
# Usage: bench/metrics.sh [N] [RUNS] [SCRAPES] [G]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
runs=${2:-21}
scrapes=${3:-1000}
guests=${4:-10}
iso=${HVCTL_GUEST_ISO:-/var/lib/libvirt/images/hvctl-guest/guest.iso}
uri=qemu:///system
net=t-metrics-bench
export PATH=/usr/local/go/bin:$PATH
[[ $(id -u) -eq 0 ]] || { echo "bench: run as root (it defines $n domains on $uri)" >&2; exit 2; }
for p in time curl prometheus-libvirt-exporter; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
done

mkdir -p bin
go build -trimpath -ldflags '-s -w' -o bin/hvctl ./cmd/hvctl
tmp=$(mktemp -d)
pids=()
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for ((i = 0; i < guests; i++)); do printf 'destroy t-metrics-g%02d\nundefine t-metrics-g%02d\n' "$i" "$i"; done | virsh -c "$uri" -q >/dev/null 2>&1 || true
	for ((i = 0; i < n; i++)); do printf 'undefine t-metrics-b%04d\n' "$i"; done | virsh -c "$uri" -q >/dev/null 2>&1 || true
	virsh -c "$uri" net-destroy "$net" >/dev/null 2>&1 || true
	virsh -c "$uri" net-undefine "$net" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

if ((guests > 0)); then
	[[ -r $iso ]] || { echo "bench: no guest ISO at $iso (scripts/test.sh builds it; or set HVCTL_GUEST_ISO)" >&2; exit 2; }
	echo "bench: starting $guests TCG guests" >&2
	# Isolated (no <forward>): the guests' DHCP stays on their bridge.
	cat >"$tmp/net.xml" <<XML
<network><name>$net</name><bridge name='hvbr-mb0' stp='off'/>
<ip address='10.213.99.1' netmask='255.255.255.0'><dhcp><range start='10.213.99.100' end='10.213.99.200'/></dhcp></ip></network>
XML
	virsh -c "$uri" net-define "$tmp/net.xml" >/dev/null && virsh -c "$uri" net-start "$net" >/dev/null
	for ((i = 0; i < guests; i++)); do
		cat >"$tmp/g$i.xml" <<XML
<domain type='qemu'><name>t-metrics-g$(printf %02d "$i")</name><memory unit='MiB'>160</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type><boot dev='cdrom'/></os><features><acpi/></features>
<devices><disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='$iso'/><target dev='sda' bus='sata'/><readonly/></disk>
<interface type='network'><source network='$net'/><model type='virtio'/></interface>
<memballoon model='virtio'><stats period='5'/></memballoon><serial type='pty'/></devices></domain>
XML
		# Defined first, so cleanup's undefine finds it whatever happens.
		virsh -c "$uri" define "$tmp/g$i.xml" >/dev/null
		virsh -c "$uri" start "t-metrics-g$(printf %02d "$i")" >/dev/null
	done
fi

echo "bench: defining $n inactive domains" >&2
for ((i = 0; i < n; i++)); do
	cat >"$tmp/d$i.xml" <<XML
<domain type='qemu'><name>t-metrics-b$(printf %04d "$i")</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os></domain>
XML
	echo "define $tmp/d$i.xml"
done | virsh -c "$uri" -q >/dev/null
# Let the guests boot past their busiest part before anything is timed.
if ((guests > 0)); then sleep 45; fi
domains=$(virsh -c "$uri" list --all --name | grep -c . || true)
running=$(virsh -c "$uri" list --name | grep -c . || true)

# The two exporters run on loopback; their scrape is timed with curl.
serve_port=$(free_port)
HVCTL_URI=$uri bin/hvctl metrics serve --listen "127.0.0.1:$serve_port" -q &
pids+=($!)
serve_pid=$!
exporter_port=$(free_port)
prometheus-libvirt-exporter --web.listen-address="127.0.0.1:$exporter_port" --libvirt.uri="$uri" >/dev/null 2>&1 &
pids+=($!)
for port in "$serve_port" "$exporter_port"; do
	for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/metrics" >/dev/null && break; sleep 0.2; done
done

names=(metrics serve domstats exporter loop)
declare -A cmdline=(
	[metrics]="bin/hvctl -c $uri metrics"
	[serve]="curl -sf http://127.0.0.1:$serve_port/metrics"
	[domstats]="virsh -c $uri domstats"
	[exporter]="curl -sf http://127.0.0.1:$exporter_port/metrics"
	[loop]="domstats_loop"
)
mapfile -t all_names < <(virsh -c "$uri" list --all --name | grep .)
loop=$((domains < 100 ? domains : 100))
domstats_loop() {
	for ((i = 0; i < loop; i++)); do virsh -c "$uri" domstats "${all_names[i]}" >/dev/null; done
}
declare -A wall rss samples
for name in "${names[@]}"; do rss[$name]=0; samples[$name]=""; done
# Interleaved rounds: load from other tenants of a shared machine hits every command alike.
for ((r = 0; r <= runs; r++)); do
	for name in "${names[@]}"; do
		[[ $name == loop && $r -gt 2 ]] && continue
		start=$(date +%s%N)
		${cmdline[$name]} >/dev/null 2>&1
		end=$(date +%s%N)
		((r == 0)) && continue # warm-up round
		samples[$name]+="$(((end - start) / 1000)) "
	done
done
for name in "${names[@]}"; do
	wall[$name]=$(printf '%s\n' ${samples[$name]} | sort -n | awk '{a[NR]=$1} END {printf "%.4f", a[int((NR+1)/2)] / 1e6}')
done
for name in metrics domstats; do
	for ((r = 0; r < 3; r++)); do
		/usr/bin/time -o "$tmp/time" -f '%M' ${cmdline[$name]} >/dev/null 2>&1
		k=$(tail -1 "$tmp/time")
		((k > rss[$name])) && rss[$name]=$k
	done
done
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; } # a server's peak RSS so far, KiB
rss[exporter]=$(hwm "${pids[1]}")

series() { grep -vc '^#' || true; }
hv_series=$(bin/hvctl -c "$uri" metrics | series)
ex_series=$(curl -sf "http://127.0.0.1:$exporter_port/metrics" | grep -v '^go_\|^process_\|^promhttp_' | series)

rss_before=$(ps -o rss= -p "$serve_pid" | tr -d ' ')
serve_start=$(date +%s)
for ((i = 0; i < scrapes; i++)); do curl -sf "http://127.0.0.1:$serve_port/metrics" >/dev/null; done
serve_secs=$(($(date +%s) - serve_start))
rss_after=$(ps -o rss= -p "$serve_pid" | tr -d ' ')
rss_peak=$(hwm "$serve_pid")
running_series=$(bin/hvctl -c "$uri" metrics | grep -v '^#' | grep -c 'domain="t-metrics-g00"' || true)
inactive_series=$(bin/hvctl -c "$uri" metrics | grep -v '^#' | grep -c 'domain="t-metrics-b0000"' || true)
ex_running=$(curl -sf "http://127.0.0.1:$exporter_port/metrics" | grep -v '^#' | grep -c 'domain="t-metrics-g00"' || true)

loopfull=$(awk -v t="${wall[loop]}" -v l=$loop -v n="$domains" 'BEGIN {printf "%.2f", t * n / l}')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
per() { awk -v s="$1" -v d="$2" 'BEGIN {printf "%.1f", s / d}'; }

cat <<TABLE
libvirt $(virsh -c "$uri" version --daemon 2>/dev/null | awk '/daemon/ {print $NF}'), $domains domains ($running running), $(nproc) CPUs, median of $runs rounds

| what | wall s | peak RSS MiB | this ÷ virsh domstats |
|---|---|---|---|
| hvctl metrics (process, one scrape) | ${wall[metrics]} | $(mib "${rss[metrics]}") | $(ratio "${wall[metrics]}" "${wall[domstats]}") |
| hvctl metrics serve, one scrape (curl) | ${wall[serve]} | $(mib "$rss_peak") (server) | $(ratio "${wall[serve]}" "${wall[domstats]}") |
| virsh domstats (all groups) | ${wall[domstats]} | $(mib "${rss[domstats]}") | 1.00 |
| prometheus-libvirt-exporter, one scrape (curl) | ${wall[exporter]} | $(mib "${rss[exporter]}") (server) | $(ratio "${wall[exporter]}" "${wall[domstats]}") |
| virsh domstats per domain ($loop timed, ×$domains/$loop) | $loopfull | - | $(ratio "$loopfull" "${wall[domstats]}") |

series: hvctl $hv_series ($(per "$hv_series" "$domains") per domain; a running guest $running_series, an inactive domain $inactive_series), prometheus-libvirt-exporter $ex_series ($(per "$ex_series" "$domains") per domain; a running guest $ex_running; Go runtime series left out)
metrics serve RSS: $(mib "$rss_before") MiB before, $(mib "$rss_after") MiB after $scrapes more scrapes (${serve_secs}s), peak $(mib "$rss_peak") MiB
TABLE
