#!/usr/bin/env bash
# Runs every test tier: formatting and static checks, generated-docs freshness, unit, libvirt
# test-driver and CLI-script tests, and (as root) the end-to-end tests on a real libvirtd with
# QEMU guests built from Debian packages. Sets up what it needs first (scripts/setup-host.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$HOME/go/bin:$PATH

bash scripts/setup-host.sh

step() { printf '\n== %s\n' "$*" >&2; }

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
[[ -z $unformatted ]] || { echo "gofmt needed:" >&2; echo "$unformatted" >&2; exit 1; }

step "go vet"
go vet ./...

step "staticcheck"
command -v staticcheck >/dev/null || (cd /tmp && go install honnef.co/go/tools/cmd/staticcheck@v0.8.2)
staticcheck ./...

step "generated man pages and completions are fresh"
go run ./cmd/gen-docs -check

step "packaging files parse"
bash scripts/check-packaging.sh

if [[ $(id -u) -eq 0 ]]; then
	step "test guest (Debian kernel + busybox + qemu-guest-agent)"
	guest_dir=/var/lib/libvirt/images/hvctl-guest
	bash testdata/guest/build.sh "$guest_dir"
	export HVCTL_E2E=1 HVCTL_GUEST_ISO=$guest_dir/guest.iso
else
	echo "not root: the end-to-end tests (pkg/e2e) will skip; run this script as root to include them" >&2
fi

step "go test (unit, test driver, CLI scripts${HVCTL_E2E:+, end-to-end})"
go test -count=1 -timeout 30m ./...

# Appended by net (issue 8, fuzzing in CI): every fuzz target for a few seconds each; the seed
# corpora already ran as ordinary tests above. FUZZTIME=60s scripts/fuzz.sh fuzzes longer by hand.
step "fuzz (every target, ${FUZZTIME:-3s} each)"
bash scripts/fuzz.sh
