#!/usr/bin/env bash
# Benchmark (issue 14): a fan-out over N hosts should cost about the slowest host, not the sum.
# Times `vmctl list --host h1,…,hN` against a sequential loop of `vmctl list -c URI`, one call
# per host, in interleaved rounds, for N = 2, 4, 8 (at most 8, --host-parallel's default), on:
#   test   N test-driver hosts (each a copy of testdata/libvirt/host.xml; in-process, no daemon)
#   RTT    N endpoints of the local libvirtd, each a unix socket of bench/fanoutdelay that adds
#          that round-trip time to every exchange (e.g. 50ms, 200ms)
#   mixed  the same with RTTs spread evenly up to MIXMAX (N=4: 50, 100, 150, 200 ms)
# No traffic leaves this machine. Reports, per case, the median over the rounds of the fan-out,
# the sequential loop and each single host, and the ratios fan-out ÷ sequential and fan-out ÷
# slowest single host. Needs root and a running libvirtd. With DOMAINS > 0 (at most 200) it first
# defines that many inactive diskless domains t-fanbench-NNN there, so that every list has
# domains to report (they add work to the daemon's bulk calls, not round trips), and undefines
# them at exit; otherwise it only reads. Everything it makes (proxy, sockets, configs, domains)
# is removed when it exits, fails or is interrupted (killed with -9, its proxy still stops
# within the hour). Not a test: not run in CI.
# Usage: bench/fanout.sh [RUNS] [NS] [CASES] [MIXMAX] [DOMAINS]
#   e.g. bench/fanout.sh 5 "2 4 8" "test 50ms 200ms mixed" 200ms 0 (RUNS odd: the median is
#   a round's own figure). On a shared machine with DOMAINS > 0, run it under the e2e lock, so
#   that no test sees its domains: flock /tmp/hvctl-e2e.lock bench/fanout.sh …
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
read -ra ns <<<"${2:-2 4 8}"
read -ra cases <<<"${3:-test 50ms 200ms mixed}"
mixmax=${4:-200ms}
ndomains=${5:-0}
daemon_sock=/run/libvirt/libvirt-sock
export PATH=/usr/local/go/bin:$PATH
[[ $(id -u) -eq 0 ]] || { echo "bench: run as root (it talks to libvirtd's socket $daemon_sock)" >&2; exit 2; }
[[ -S $daemon_sock ]] || { echo "bench: no libvirtd socket at $daemon_sock (scripts/setup-host.sh)" >&2; exit 2; }
[[ $ndomains =~ ^[0-9]+$ ]] && ((ndomains <= 200)) || { echo "bench: DOMAINS: want 0 to 200, not $ndomains" >&2; exit 2; }
for c in "${cases[@]}"; do
	[[ $c =~ ^(test|mixed|[0-9]+ms)$ ]] || { echo "bench: $c: a case is test, mixed or an RTT in ms such as 50ms" >&2; exit 2; }
done
[[ $mixmax =~ ^[0-9]+ms$ ]] || { echo "bench: MIXMAX: want an RTT in ms such as 200ms, not $mixmax" >&2; exit 2; }
maxn=0
for n in "${ns[@]}"; do
	# Beyond --host-parallel's default (8) a fan-out goes in turns: not what this measures.
	[[ $n =~ ^[1-8]$ ]] || { echo "bench: NS: want host counts from 1 to 8, not $n" >&2; exit 2; }
	if ((n > maxn)); then maxn=$n; fi
done

mkdir -p bin
go build -trimpath -ldflags '-s -w' -o bin/hvctl ./cmd/hvctl
ln -sf hvctl bin/vmctl
go build -o bin/fanoutdelay ./bench/fanoutdelay
tmp=$(mktemp -d /tmp/hvctl-fanout.XXXXXX)
proxy=
cleanup() {
	if [[ -n $proxy ]]; then
		kill "$proxy" 2>/dev/null || true
		wait "$proxy" 2>/dev/null || true
	fi
	if ((ndomains > 0)); then
		for ((i = 0; i < ndomains; i++)); do printf 'undefine t-fanbench-%03d\n' "$i"; done | virsh -c qemu:///system -q >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT # so that cleanup runs on Ctrl-C and kill too
trap 'exit 143' TERM
for ((i = 0; i < ndomains; i++)); do
	cat >"$tmp/d$i.xml" <<XML
<domain type='qemu'><name>t-fanbench-$(printf %03d "$i")</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os></domain>
XML
	echo "define $tmp/d$i.xml"
done | virsh -c qemu:///system -q >/dev/null

ms() { awk -v d="${1%ms}" 'BEGIN {printf "%d", d}'; } # "50ms" → 50

# One proxy process serves every delayed endpoint: case C host i is $tmp/C-i.sock, mixed host i
# of N $tmp/mixedN-i.sock.
endpoints=()
for c in "${cases[@]}"; do
	[[ $c == test || $c == mixed ]] && continue # mixed: its spread depends on N, made below
	for ((i = 1; i <= maxn; i++)); do endpoints+=("$tmp/$c-$i.sock=$c"); done
done
if [[ " ${cases[*]} " == *" mixed "* ]]; then
	for n in "${ns[@]}"; do
		for ((i = 1; i <= n; i++)); do
			endpoints+=("$tmp/mixed$n-$i.sock=$(($(ms "$mixmax") * i / n))ms")
		done
	done
fi
if ((${#endpoints[@]} > 0)); then
	# -for: should this script be killed with no chance to clean up, the proxy still goes away.
	bin/fanoutdelay -target "$daemon_sock" -for 1h "${endpoints[@]}" &
	proxy=$!
	for _ in $(seq 1 50); do [[ -S ${endpoints[-1]%=*} ]] && break; sleep 0.1; done
	[[ -S ${endpoints[-1]%=*} ]] || { echo "bench: fanoutdelay did not start" >&2; exit 1; }
fi
for ((i = 1; i <= maxn; i++)); do cp testdata/libvirt/host.xml "$tmp/test-$i.xml"; done

# uri CASE N I: the URI of host I of N in CASE.
uri() {
	case $1 in
	test) echo "test://$tmp/test-$3.xml" ;;
	mixed) echo "qemu+unix:///system?socket=$tmp/mixed$2-$3.sock" ;;
	*) echo "qemu+unix:///system?socket=$tmp/$1-$3.sock" ;;
	esac
}
# rtt CASE N I: the round-trip time added to host I of N, for the table.
rtt() {
	case $1 in
	test) echo "-" ;;
	mixed) echo "$(($(ms "$mixmax") * $3 / $2))ms" ;;
	*) echo "$1" ;;
	esac
}

now() { echo "${EPOCHREALTIME/./}"; } # µs
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)] / 1e6}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# The local daemon's own cost, without added latency: the RTT cases' round trips per call are
# (single − direct) ÷ RTT: connecting, then list's bulk calls (a few, sent together), whatever
# the number of inactive domains.
domains=$(bin/vmctl -c qemu:///system list --jq length)
directs=()
for ((r = 0; r < runs; r++)); do
	s=$(now)
	bin/vmctl -c qemu:///system list --json >/dev/null
	directs+=($(($(now) - s)))
done
direct=$(median "${directs[@]}")
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

rows=() trips=()
for c in "${cases[@]}"; do
	for n in "${ns[@]}"; do
		cfg=$tmp/config-$c-$n.toml
		names=()
		: >"$cfg"
		for ((i = 1; i <= n; i++)); do
			printf '[hosts.h%d]\nuri = "%s"\n' "$i" "$(uri "$c" "$n" "$i")" >>"$cfg"
			names+=("h$i")
		done
		hostlist=$(
			IFS=,
			echo "${names[*]}"
		)
		fan=(bin/vmctl --config "$cfg" list --host "$hostlist" --json)
		# The fan-out answers from every host (exit 0) and lists N times what one host lists (the
		# hosts of a case are copies of one file or endpoints of one daemon); other tenants of a
		# shared daemon may define or remove domains meanwhile, so a mismatch is tried again.
		for try in 1 2 3; do
			want=$(($(bin/vmctl --config "$cfg" list -c "$(uri "$c" "$n" 1)" --jq length) * n))
			got=$("${fan[@]}" --jq length) || { echo "bench: $c N=$n: the fan-out failed" >&2; exit 1; }
			[[ $got == "$want" ]] && break
			echo "bench: $c N=$n: the fan-out listed $got VMs, not N × one host's $want (try $try of 3)" >&2
			((try < 3)) || exit 1
		done

		fans=() seqs=()
		declare -A single=()
		for ((r = 0; r < runs; r++)); do
			# Interleaved, and the order flipped every round, so load from the machine's other
			# tenants falls on both alike.
			order=(fan seq)
			if ((r % 2)); then order=(seq fan); fi
			for part in "${order[@]}"; do
				if [[ $part == fan ]]; then
					s=$(now)
					"${fan[@]}" >/dev/null
					fans+=($(($(now) - s)))
				else
					total=0
					for ((i = 1; i <= n; i++)); do
						s=$(now)
						bin/vmctl --config "$cfg" list -c "$(uri "$c" "$n" "$i")" --json >/dev/null
						d=$(($(now) - s))
						single[$i]+="$d "
						total=$((total + d))
					done
					seqs+=("$total")
				fi
			done
		done
		fanmed=$(median "${fans[@]}")
		seqmed=$(median "${seqs[@]}")
		slowest=0 slowhost=
		for ((i = 1; i <= n; i++)); do
			m=$(median ${single[$i]})
			if awk -v a="$m" -v b="$slowest" 'BEGIN {exit !(a > b)}'; then slowest=$m slowhost=$i; fi
		done
		case $c in
		test) what="test:/// hosts" ;;
		mixed) what="libvirtd, RTT $(rtt mixed "$n" 1)…$(rtt mixed "$n" "$n")" ;;
		*) what="libvirtd, RTT $c" ;;
		esac
		rows+=("| $n | $what | $fanmed | $seqmed | $slowest (h$slowhost) | $(ratio "$fanmed" "$seqmed") | $(ratio "$fanmed" "$slowest") |")
		echo "bench: $what, N=$n: fan-out $fanmed s, sequential $seqmed s, slowest single $slowest s" >&2
		if [[ $c != test && $c != mixed ]]; then
			trips+=("$(awk -v s="$slowest" -v d="$direct" -v r="$(ms "$c")" 'BEGIN {printf "%.1f", (s - d) * 1000 / r}') at $c (N=$n)")
		fi
		unset single
	done
done

cat <<TABLE
vmctl list over N hosts: one fan-out (--host h1,…,hN) against N single-host calls in a row,
median of $runs interleaved rounds ($(date -u '+%F %H:%M') UTC, libvirt $(virsh --version), $(nproc) CPUs, load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end)

| N | hosts | fan-out s | sequential s | slowest single s | fan-out ÷ sequential | fan-out ÷ slowest |
|---|---|---|---|---|---|---|
$(printf '%s\n' "${rows[@]}")

The local libvirtd held $domains domains; one direct call (qemu:///system, no proxy) took $direct s.
Round trips per single call, (slowest single − direct) ÷ RTT: $(
	IFS=';'
	echo "${trips[*]:-none measured}" | sed 's/;/; /g'
).
TABLE
