#!/usr/bin/env bash
# fuzz.sh [REGEXP] — runs every fuzz target of the module (every `func FuzzX(f *testing.F)` in a
# package's test files, found by go list, so a new target needs no registration here), each on
# its own for FUZZTIME (default 3s: CI), one after the other: Go runs one -fuzz target per
# invocation. The committed seed corpora (testdata/fuzz/FuzzX next to each target) run first.
# By hand, fuzz longer: FUZZTIME=60s scripts/fuzz.sh, or one target: scripts/fuzz.sh FuzzImport.
# A crasher is written to the package's testdata/fuzz/FuzzX/: commit it as a regression input
# once the fix is in, and plain `go test` replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$HOME/go/bin:$PATH

fuzztime=${FUZZTIME:-3s}
only=${1:-.}

# Each package's directory, import path and test files (build constraints applied by go list).
targets=()
while read -r dir pkg files; do
	[[ -n $files ]] || continue
	for file in $files; do
		while read -r name; do
			[[ -n $name && $name =~ $only ]] && targets+=("$pkg $name")
		done < <(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(\w+ \*testing\.F\).*/\1/p' "$dir/$file")
	done
done < <(go list -f '{{.Dir}} {{.ImportPath}} {{join .TestGoFiles " "}} {{join .XTestGoFiles " "}}' ./...)

if [[ ${#targets[@]} -eq 0 ]]; then
	echo "fuzz.sh: no fuzz targets match ${only}" >&2
	exit 1
fi
start=$SECONDS
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	printf '%s %s (%s)\n' "$pkg" "$name" "$fuzztime" >&2
	# -run selects only the target's own seed run; -fuzz then mutates from its corpus.
	go test -run "^${name}\$" -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/hvctl-fuzz.$$.log 2>&1 || {
		cat /tmp/hvctl-fuzz.$$.log >&2
		rm -f /tmp/hvctl-fuzz.$$.log
		echo "fuzz.sh: $name in $pkg failed; the crasher (if any) is under that package's testdata/fuzz/$name/" >&2
		exit 1
	}
done
rm -f /tmp/hvctl-fuzz.$$.log
echo "fuzz.sh: ${#targets[@]} targets, ${fuzztime} each, $((SECONDS - start))s in all" >&2
