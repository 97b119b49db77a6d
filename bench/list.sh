#!/usr/bin/env bash
# Benchmark: `vmctl list --json` against virsh on a real libvirtd with N inactive domains, in one
# run. Reports median wall time and peak RSS of each command, and ratios against the peers.
# Needs root and a running libvirtd (scripts/setup-host.sh). Usage: bench/list.sh [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
runs=${2:-21}
uri=qemu:///system
export PATH=/usr/local/go/bin:$PATH
[[ $(id -u) -eq 0 ]] || { echo "bench: run as root (it defines $n domains on $uri)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null

mkdir -p bin
go build -trimpath -ldflags '-s -w' -o bin/hvctl ./cmd/hvctl
ln -sf hvctl bin/vmctl
tmp=$(mktemp -d)
cleanup() {
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

# Commands are run in interleaved rounds, so load from other tenants of a shared machine hits
# every command alike; wall time is the median over the rounds, RSS the peak.
names=(vmctl list domstats loop client virshv)
declare -A cmdline=(
	[vmctl]="bin/vmctl -c $uri list --json"
	[list]="virsh -c $uri list --all"
	[domstats]="virsh -c $uri domstats --state --balloon --vcpu"
	[loop]="dominfo_loop"
	[client]="bin/hvctl version --client"
	[virshv]="virsh --version"
)
loop=100
dominfo_loop() {
	for ((i = 0; i < loop; i++)); do virsh -c "$uri" dominfo "hvbench-$(printf %04d "$i")" >/dev/null; done
}
declare -A wall rss samples
for name in "${names[@]}"; do rss[$name]=0; samples[$name]=""; done
for ((r = 0; r <= runs; r++)); do
	for name in "${names[@]}"; do
		[[ $name == loop && $r -gt 2 ]] && continue # 1.5 s a round: three rounds are plenty
		start=$(date +%s%N)
		${cmdline[$name]} >/dev/null 2>&1
		end=$(date +%s%N)
		((r == 0)) && continue # warm-up round
		samples[$name]+="$(((end - start) / 1000)) "
	done
done
for name in "${names[@]}"; do
	wall[$name]=$(printf '%s\n' ${samples[$name]} | sort -n | awk '{a[NR]=$1} END {printf "%.4f", a[int((NR+1)/2)] / 1e6}')
	[[ $name == loop ]] && continue
	for ((r = 0; r < 3; r++)); do
		/usr/bin/time -o "$tmp/time" -f '%M' ${cmdline[$name]} >/dev/null 2>&1
		k=$(tail -1 "$tmp/time")
		((k > rss[$name])) && rss[$name]=$k
	done
done
export -f dominfo_loop 2>/dev/null || true
/usr/bin/time -o "$tmp/time" -f '%M' bash -c "$(declare -f dominfo_loop); uri=$uri loop=$loop dominfo_loop" >/dev/null 2>&1
rss[loop]=$(tail -1 "$tmp/time")

count=$(bin/vmctl -c "$uri" list --jq '[.[] | select(.name | startswith("hvbench-"))] | length')
[[ $count == "$n" ]] || { echo "bench: vmctl listed $count of $n domains" >&2; exit 1; }

loopfull=$(awk -v t="${wall[loop]}" -v l=$loop -v n="$n" 'BEGIN {printf "%.2f", t * n / l}')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

cat <<TABLE
$n inactive domains on $uri, median of $runs interleaved runs ($(date -u +%F), libvirt $(virsh --version), $(nproc) CPUs)

| command | wall s | peak RSS MiB | time: vmctl ÷ this | RSS: vmctl ÷ this |
|---|---|---|---|---|
| vmctl list --json | ${wall[vmctl]} | $(mib "${rss[vmctl]}") | 1.00 | 1.00 |
| virsh domstats --state --balloon --vcpu | ${wall[domstats]} | $(mib "${rss[domstats]}") | $(ratio "${wall[vmctl]}" "${wall[domstats]}") | $(ratio "${rss[vmctl]}" "${rss[domstats]}") |
| virsh list --all | ${wall[list]} | $(mib "${rss[list]}") | $(ratio "${wall[vmctl]}" "${wall[list]}") | $(ratio "${rss[vmctl]}" "${rss[list]}") |
| virsh dominfo loop (${loop} measured, ×$((n / loop))) | $loopfull | $(mib "${rss[loop]}") | $(awk -v a="${wall[vmctl]}" -v b="$loopfull" 'BEGIN {printf "%.4f", a / b}') | $(ratio "${rss[vmctl]}" "${rss[loop]}") |

| command | wall s | peak RSS MiB | ratio |
|---|---|---|---|
| hvctl version --client | ${wall[client]} | $(mib "${rss[client]}") | $(ratio "${wall[client]}" "${wall[virshv]}") × virsh --version |
| virsh --version | ${wall[virshv]} | $(mib "${rss[virshv]}") | 1.00 |

targets: vmctl ≤ 1.2 × domstats: $(awk -v a="${wall[vmctl]}" -v b="${wall[domstats]}" 'BEGIN {print (a <= 1.2*b) ? "met" : "MISSED"}'); vmctl ≤ 0.5 × list --all: $(awk -v a="${wall[vmctl]}" -v b="${wall[list]}" 'BEGIN {print (a <= 0.5*b) ? "met" : "MISSED"}'); peak RSS < 60 MiB: $(awk -v k="${rss[vmctl]}" 'BEGIN {print (k < 60*1024) ? "met" : "MISSED"}')
TABLE
