#!/usr/bin/env bash
# Benchmark: isoctl's hashing and downloading against the peers, in one run, on one file.
#   isoctl verify  vs  openssl dgst -sha256 and sha256sum (hashing a stored image at rest)
#   isoctl pull    vs  curl -o (from a loopback python3 -m http.server; pull also verifies)
# Reports median wall time and peak RSS. Usage: bench/iso.sh [SIZE_MIB] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1024}
runs=${2:-3}
export PATH=/usr/local/go/bin:$PATH
for t in openssl curl python3 sha256sum; do command -v "$t" >/dev/null || { echo "bench: $t missing" >&2; exit 2; }; done
[[ -x /usr/bin/time ]] || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 2; }
mkdir -p bin
go build -trimpath -ldflags '-s -w' -o bin/hvctl ./cmd/hvctl
ln -sf hvctl bin/isoctl
tmp=$(mktemp -d)
srv=
trap '[[ -n $srv ]] && kill "$srv" 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/www" "$tmp/isos" "$tmp/dl"
head -c "${size}M" /dev/urandom >"$tmp/www/big.iso"
sum=$(openssl dgst -sha256 -r "$tmp/www/big.iso" | cut -d' ' -f1)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$tmp/www" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
srv=$!
for _ in $(seq 1 50); do curl -fs -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

export HVCTL_PATHS_ISOS=$tmp/isos HVCTL_URI=test:///default HVCTL_SYSTEM_CONFIG=/nonexistent XDG_CONFIG_HOME=$tmp
bin/isoctl import "$tmp/www/big.iso" --sha256 "$sum" -q >/dev/null

declare -A wall rss samples
measure() { # NAME CMD...
	local name=$1; shift
	# Write back what the previous command left dirty, so that no command pays for another's
	# writes (the kernel throttles whoever writes while much is dirty).
	sync
	/usr/bin/time -o "$tmp/t" -f '%e %M' "$@" >/dev/null 2>&1
	read -r w m <"$tmp/t"
	samples[$name]+="$w "
	((m > ${rss[$name]:-0})) && rss[$name]=$m
	return 0
}
cat "$tmp/www/big.iso" >/dev/null # warm the page cache for everyone
for ((r = 0; r < runs; r++)); do
	measure openssl openssl dgst -sha256 "$tmp/www/big.iso"
	measure sha256sum sha256sum "$tmp/www/big.iso"
	measure verify bin/isoctl verify big.iso
	rm -f "$tmp/dl/big.iso"
	measure curl curl -fsS -o "$tmp/dl/big.iso" "http://127.0.0.1:$port/big.iso"
	rm -rf "$tmp/pulled" && mkdir -p "$tmp/pulled"
	measure pull env HVCTL_PATHS_ISOS="$tmp/pulled" bin/isoctl pull "http://127.0.0.1:$port/big.iso" --sha256 "$sum"
	[[ -f $tmp/pulled/big.iso ]] || { echo "bench: pull stored nothing" >&2; exit 1; }
done
med() { printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for n in openssl sha256sum verify curl pull; do wall[$n]=$(med "${samples[$n]}"); done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
cat <<TABLE
${size} MiB file, median of $runs runs ($(date -u +%F), $(nproc) CPUs, $(openssl version | cut -d' ' -f1-2))

| command | wall s | peak RSS MiB | ratio |
|---|---|---|---|
| openssl dgst -sha256 | ${wall[openssl]} | $(mib "${rss[openssl]}") | 1.00 |
| sha256sum | ${wall[sha256sum]} | $(mib "${rss[sha256sum]}") | $(ratio "${wall[sha256sum]}" "${wall[openssl]}") × openssl |
| isoctl verify | ${wall[verify]} | $(mib "${rss[verify]}") | $(ratio "${wall[verify]}" "${wall[openssl]}") × openssl (target ≤ 1.05) |
| curl -o (loopback) | ${wall[curl]} | $(mib "${rss[curl]}") | 1.00 |
| isoctl pull (download + verify + publish) | ${wall[pull]} | $(mib "${rss[pull]}") | $(ratio "${wall[pull]}" "${wall[curl]}") × curl (target ≤ 1.15) |

peak RSS of isoctl pull: $(mib "${rss[pull]}") MiB (target < 50 MiB)
TABLE
