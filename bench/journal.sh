#!/usr/bin/env bash
# Benchmark: what the operations journal adds to a command. Runs, interleaved, the same
# command with the journal (its default) and without (HVCTL_JOURNAL_ENABLED=false) against
# libvirt's in-process test driver, and prints the median and p90 wall time of each and their
# difference and ratio, hyperfine-style:
#   vmctl pause test   a command that changes something: journaled
#   vmctl list         a command that only reads: never journaled (the difference is noise)
# The journal lives in a temporary paths.state that starts empty.
# Usage: bench/journal.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
export PATH=/usr/local/go/bin:$PATH
mkdir -p bin
go build -trimpath -ldflags '-s -w' -o bin/hvctl ./cmd/hvctl
ln -sf hvctl bin/vmctl
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HVCTL_URI=test:///default HVCTL_PATHS_STATE=$tmp/state XDG_RUNTIME_DIR=$tmp HVCTL_SYSTEM_CONFIG=/nonexistent

# once CMD…: wall time of one run in microseconds.
once() {
	local s e
	s=$(date +%s%N)
	"$@" >/dev/null 2>&1
	e=$(date +%s%N)
	echo $(((e - s) / 1000))
}
# stats FILE: median and p90 in ms.
stats() { sort -n "$1" | awk '{a[NR]=$1} END {printf "%.2f %.2f\n", a[int((NR+1)/2)]/1000, a[int(NR*0.9)]/1000}'; }

for cmd in "pause test" "list"; do
	: >"$tmp/on" && : >"$tmp/off"
	for _ in 1 2 3; do bin/vmctl $cmd >/dev/null 2>&1; done # warm the page cache
	for _ in $(seq "$runs"); do
		once bin/vmctl $cmd >>"$tmp/on"
		HVCTL_JOURNAL_ENABLED=false once bin/vmctl $cmd >>"$tmp/off"
	done
	read -r on_med on_p90 < <(stats "$tmp/on")
	read -r off_med off_p90 < <(stats "$tmp/off")
	awk -v c="vmctl $cmd" -v a="$on_med" -v b="$off_med" -v ap="$on_p90" -v bp="$off_p90" -v n="$runs" 'BEGIN {
		printf "%-18s journal: median %6.2f ms (p90 %6.2f)   without: median %6.2f ms (p90 %6.2f)   +%.2f ms, ratio %.3f  (%d runs each)\n",
			c, a, ap, b, bp, a - b, a / b, n }'
done
echo "records written: $(sqlite3 "$tmp/state/journal.db" 'SELECT count(*) FROM records' 2>/dev/null || echo '?')"
