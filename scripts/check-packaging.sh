#!/usr/bin/env bash
# Validates the packaging files as far as a machine without Nix's store or network allows:
# the Nix files parse, nix/package.nix's vendorHash matches `go mod vendor`, and goreleaser
# accepts .goreleaser.yaml. With -w it rewrites a stale vendorHash.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$HOME/go/bin:$PATH

for f in flake.nix nix/*.nix; do
	NIX_CONFIG="build-users-group =" nix-instantiate --parse "$f" >/dev/null || { echo "check-packaging: $f does not parse" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go mod vendor -o "$tmp/vendor"
hex=$(NIX_CONFIG="build-users-group =" nix-hash --type sha256 "$tmp/vendor")
want="sha256-$(echo "$hex" | xxd -r -p | base64)"
have=$(sed -n 's/.*vendorHash = "\(.*\)";/\1/p' nix/package.nix)
if [[ $have != "$want" ]]; then
	if [[ ${1:-} == -w ]]; then
		sed -i "s|vendorHash = \".*\";|vendorHash = \"$want\";|" nix/package.nix
	else
		echo "check-packaging: nix/package.nix vendorHash is $have, go mod vendor gives $want (run scripts/check-packaging.sh -w)" >&2
		exit 1
	fi
fi

if ! command -v goreleaser >/dev/null; then
	(cd /tmp && go install github.com/goreleaser/goreleaser/v2@v2.15.1)
fi
goreleaser check -q 2>&1 || { echo "check-packaging: goreleaser check failed" >&2; exit 1; }
