#!/usr/bin/env bash
# Benchmark: one `hvctl metrics` scrape against `virsh domstats` (all groups), Debian's
# prometheus-libvirt-exporter (one RPC per domain) and a `virsh domstats`-per-domain loop (the bash
# way), on a real libvirtd with N inactive domains plus whatever runs there, in one run. Reports
# median wall time, peak RSS, series per domain, and `metrics serve` RSS before and after many
# scrapes. Not a test: not run in CI. Needs root, a running libvirtd, curl and the
# prometheus-libvirt-exporter package. Usage: bench/metrics.sh [N] [RUNS] [SCRAPES]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
runs=${2:-21}
scrapes=${3:-1000}
uri=qemu:///system
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
	for ((i = 0; i < n; i++)); do printf 'undefine hvbench-%04d\n' "$i"; done | virsh -c "$uri" -q >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "bench: defining $n inactive domains" >&2
for ((i = 0; i < n; i++)); do
	cat >"$tmp/d$i.xml" <<XML
<domain type='qemu'><name>hvbench-$(printf %04d "$i")</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os></domain>
XML
	echo "define $tmp/d$i.xml"
done | virsh -c "$uri" -q >/dev/null
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
rss[exporter]=$(ps -o rss= -p "${pids[1]}" | tr -d ' ')

series() { grep -vc '^#' || true; }
hv_series=$(bin/hvctl -c "$uri" metrics | series)
ex_series=$(curl -sf "http://127.0.0.1:$exporter_port/metrics" | grep -v '^go_\|^process_\|^promhttp_' | series)

rss_before=$(ps -o rss= -p "$serve_pid" | tr -d ' ')
for ((i = 0; i < scrapes; i++)); do curl -sf "http://127.0.0.1:$serve_port/metrics" >/dev/null; done
rss_after=$(ps -o rss= -p "$serve_pid" | tr -d ' ')

loopfull=$(awk -v t="${wall[loop]}" -v l=$loop -v n="$domains" 'BEGIN {printf "%.2f", t * n / l}')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
per() { awk -v s="$1" -v d="$2" 'BEGIN {printf "%.1f", s / d}'; }

cat <<TABLE
libvirt $(virsh -c "$uri" version --daemon 2>/dev/null | awk '/daemon/ {print $NF}'), $domains domains ($running running), $(nproc) CPUs, median of $runs rounds

| what | wall s | peak RSS MiB | this ÷ virsh domstats |
|---|---|---|---|
| hvctl metrics (process, one scrape) | ${wall[metrics]} | $(mib "${rss[metrics]}") | $(ratio "${wall[metrics]}" "${wall[domstats]}") |
| hvctl metrics serve, one scrape (curl) | ${wall[serve]} | $(mib "$rss_after") (server) | $(ratio "${wall[serve]}" "${wall[domstats]}") |
| virsh domstats (all groups) | ${wall[domstats]} | $(mib "${rss[domstats]}") | 1.00 |
| prometheus-libvirt-exporter, one scrape (curl) | ${wall[exporter]} | $(mib "${rss[exporter]}") (server) | $(ratio "${wall[exporter]}" "${wall[domstats]}") |
| virsh domstats per domain ($loop timed, ×$domains/$loop) | $loopfull | - | $(ratio "$loopfull" "${wall[domstats]}") |

series: hvctl $hv_series ($(per "$hv_series" "$domains") per domain), prometheus-libvirt-exporter $ex_series ($(per "$ex_series" "$domains") per domain, Go runtime series left out)
metrics serve RSS: $(mib "$rss_before") MiB before, $(mib "$rss_after") MiB after $scrapes scrapes
TABLE
