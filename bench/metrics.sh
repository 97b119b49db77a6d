#!/usr/bin/env bash
# Benchmark: one `hvctl metrics` scrape against `virsh domstats` (all groups), Debian's
# prometheus-libvirt-exporter (one RPC per domain) and a `virsh domstats`-per-domain loop (the bash
# way), on a real libvirtd with N inactive domains (diskless) plus G running TCG test guests
# (the e2e guest ISO as CD-ROM, a NIC on an isolated network of their own), in one run. Reports
# median wall time, peak RSS, series per domain, and `metrics serve` RSS over many scrapes,
# sampled every 250. Last, with the inactive domains undefined again, the like-for-like run:
# `metrics serve` against prometheus-libvirt-exporter on the running guests alone (all that
# exporter covers). Everything it defines is named $HVCTL_BENCH_PREFIX… (t-metrics-…) and removed
# at exit. Not a test: not run in CI. Needs root, a running libvirtd, curl and the
# prometheus-libvirt-exporter package; take the e2e lock (flock /tmp/hvctl-e2e.lock) on a
# shared machine.
# Usage: bench/metrics.sh [N] [RUNS] [SCRAPES] [G]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
runs=${2:-21}
scrapes=${3:-5000}
guests=${4:-10}
iso=${HVCTL_GUEST_ISO:-/var/lib/libvirt/images/hvctl-guest/guest.iso}
uri=${HVCTL_BENCH_URI:-qemu:///system}
prefix=${HVCTL_BENCH_PREFIX:-t-metrics}
net=$prefix-bench
# Each guest's data disk (a sparse raw file): a VM without one would make the exporter skip its
# block question (it skips CD-ROMs), which no real VM does. Under the images directory, where
# QEMU may open it.
disks=/var/lib/libvirt/images/$prefix-disks
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
	for ((i = 0; i < guests; i++)); do printf 'destroy %s-g%02d\nundefine %s-g%02d\n' "$prefix" "$i" "$prefix" "$i"; done | virsh -c "$uri" -q >/dev/null 2>&1 || true
	for ((i = 0; i < n; i++)); do printf 'undefine %s-b%04d\n' "$prefix" "$i"; done | virsh -c "$uri" -q >/dev/null 2>&1 || true
	virsh -c "$uri" net-destroy "$net" >/dev/null 2>&1 || true
	virsh -c "$uri" net-undefine "$net" >/dev/null 2>&1 || true
	rm -rf "$tmp" "$disks"
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
	mkdir -p "$disks"
	for ((i = 0; i < guests; i++)); do
		truncate -s 64M "$disks/g$i.raw"
		cat >"$tmp/g$i.xml" <<XML
<domain type='qemu'><name>$prefix-g$(printf %02d "$i")</name><memory unit='MiB'>160</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type><boot dev='cdrom'/></os><features><acpi/></features>
<devices><disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='$iso'/><target dev='sda' bus='sata'/><readonly/></disk>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='$disks/g$i.raw'/><target dev='vda' bus='virtio'/></disk>
<interface type='network'><source network='$net'/><model type='virtio'/></interface>
<memballoon model='virtio'><stats period='5'/></memballoon><serial type='pty'/></devices></domain>
XML
		# Defined first, so cleanup's undefine finds it whatever happens.
		virsh -c "$uri" define "$tmp/g$i.xml" >/dev/null
		virsh -c "$uri" start "$prefix-g$(printf %02d "$i")" >/dev/null
	done
fi

# Let the guests boot before anything is timed: until their QEMUs together use less than 5% of
# a CPU each over 5 s (an idle guest uses under 1%), at most 5 minutes. Booting guests on
# loaded CPUs slow every monitor question and would be measured instead of the exporters.
settle() {
	local pids ticks t0 t1 hz
	pids=$(for ((i = 0; i < guests; i++)); do cat "/run/libvirt/qemu/$prefix-g$(printf %02d "$i").pid"; echo; done)
	ticks() { for p in $pids; do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{s += $1} END {print s}'; }
	hz=$(getconf CLK_TCK)
	for _ in $(seq 1 60); do
		t0=$(ticks)
		sleep 5
		t1=$(ticks)
		if awk -v d="$((t1 - t0))" -v hz="$hz" -v g="$guests" 'BEGIN {exit !(d / hz / 5 < 0.05 * g)}'; then
			return 0
		fi
	done
	echo "bench: the guests were still busy after 5 minutes; timing anyway" >&2
}
if ((guests > 0)); then settle; fi

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

# median NAME...: the median of each command's samples, in seconds.
median() { printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {printf "%.4f", a[int((NR+1)/2)] / 1e6}'; }
timed() { # timed CMD...: microseconds
	local start end
	start=$(date +%s%N)
	"$@" >/dev/null 2>&1
	end=$(date +%s%N)
	echo $(((end - start) / 1000))
}

echo "bench: defining $n inactive domains" >&2
for ((i = 0; i < n; i++)); do
	cat >"$tmp/d$i.xml" <<XML
<domain type='qemu'><name>$prefix-b$(printf %04d "$i")</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os></domain>
XML
	echo "define $tmp/d$i.xml"
done | virsh -c "$uri" -q >/dev/null
domains=$(virsh -c "$uri" list --all --name | grep -c . || true)
running=$(virsh -c "$uri" list --name | grep -c . || true)

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
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
per() { awk -v s="$1" -v d="$2" 'BEGIN {printf "%.1f", s / d}'; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; } # a server's peak RSS so far, KiB
rss[exporter]=$(hwm "${pids[1]}")

series() { grep -vc '^#' || true; }
hv_series=$(bin/hvctl -c "$uri" metrics | series)
ex_series=$(curl -sf "http://127.0.0.1:$exporter_port/metrics" | grep -v '^go_\|^process_\|^promhttp_' | series)

# The server's RSS every 250 scrapes (and the Go heap it reports itself): a plateau or a leak.
rss_before=$(ps -o rss= -p "$serve_pid" | tr -d ' ')
rss_series="" heap_series=""
serve_start=$(date +%s)
for ((i = 1; i <= scrapes; i++)); do
	if ((i % 250 == 0)); then
		heap=$(curl -sf "http://127.0.0.1:$serve_port/metrics" | awk '/^go_memstats_heap_inuse_bytes / {printf "%.1f", $2 / 1048576}')
		rss_series+="$(mib "$(ps -o rss= -p "$serve_pid" | tr -d ' ')") " heap_series+="$heap "
	else
		curl -sf "http://127.0.0.1:$serve_port/metrics" >/dev/null
	fi
done
serve_secs=$(($(date +%s) - serve_start))
rss_after=$(ps -o rss= -p "$serve_pid" | tr -d ' ')
rss_peak=$(hwm "$serve_pid")
running_series=$(bin/hvctl -c "$uri" metrics | grep -v '^#' | grep -c "domain=\"$prefix-g00\"" || true)
inactive_series=$(bin/hvctl -c "$uri" metrics | grep -v '^#' | grep -c "domain=\"$prefix-b0000\"" || true)
ex_running=$(curl -sf "http://127.0.0.1:$exporter_port/metrics" | grep -v '^#' | grep -c "domain=\"$prefix-g00\"" || true)

# Like for like, last (the guests have booted by now): the inactive domains undefined, the
# running guests alone, which is all prometheus-libvirt-exporter covers.
for ((i = 0; i < n; i++)); do printf 'undefine %s-b%04d\n' "$prefix" "$i"; done | virsh -c "$uri" -q >/dev/null 2>&1 || true
like_serve="" like_exporter=""
for ((r = 0; r <= runs; r++)); do
	s1=$(timed curl -sf "http://127.0.0.1:$serve_port/metrics")
	s2=$(timed curl -sf "http://127.0.0.1:$exporter_port/metrics")
	((r == 0)) && continue # warm-up round
	like_serve+="$s1 " like_exporter+="$s2 "
done
like_domains=$(virsh -c "$uri" list --all --name | grep -c . || true)
like_running=$(virsh -c "$uri" list --name | grep -c . || true)
like_hv_series=$(curl -sf "http://127.0.0.1:$serve_port/metrics" | grep -v '^#' | grep -vc '^go_\|^process_' || true)
like_ex_series=$(curl -sf "http://127.0.0.1:$exporter_port/metrics" | grep -v '^#' | grep -vc '^go_\|^process_\|^promhttp_' || true)

loopfull=$(awk -v t="${wall[loop]}" -v l=$loop -v n="$domains" 'BEGIN {printf "%.2f", t * n / l}')

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
every 250 scrapes, RSS MiB: $rss_series
every 250 scrapes, Go heap in use MiB: $heap_series

Like for like, after the inactive domains were undefined: $like_domains domains ($like_running running), median of $runs rounds

| what | wall s | series |
|---|---|---|
| hvctl metrics serve, one scrape (curl) | $(median "$like_serve") | $like_hv_series |
| prometheus-libvirt-exporter, one scrape (curl) | $(median "$like_exporter") | $like_ex_series |

hvctl metrics serve ÷ prometheus-libvirt-exporter: $(ratio "${wall[serve]}" "${wall[exporter]}") with the $n inactive domains, $(ratio "$(median "$like_serve")" "$(median "$like_exporter")") on the running guests alone
TABLE

# What each asks the guests' QEMUs, which is where the time goes (bench/qmpcost.sh).
if ((guests > 0)); then
	echo
	echo "What libvirt asks a running guest's QEMU, by statistics group and per exporter scrape:"
	echo
	bash bench/qmpcost.sh "$prefix-g00" 100 "http://127.0.0.1:$serve_port/metrics" "http://127.0.0.1:$exporter_port/metrics"
fi
