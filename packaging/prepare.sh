#!/usr/bin/env bash
# prepare.sh VERSION — the files the .deb and .rpm carry that are made at release time, under
# out/pkg/: man pages gzipped (Debian policy 12.1; rpm compresses them itself, but the same
# files serve both) and a Debian changelog for VERSION (policy 12.7). goreleaser runs this
# before packaging; nothing here is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?version}
out=out/pkg
rm -rf "$out"
mkdir -p "$out/man"
for page in man/*.1; do
	# -n: no name or time stamp in the header, so the package is reproducible.
	gzip -9nc "$page" >"$out/man/$(basename "$page").gz"
done
date=$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}")
cat >"$out/changelog.Debian" <<CHANGES
hvctl (${version}) unstable; urgency=medium

  * Release ${version}; the changes are the project's git history:
    https://github.com/hyper-nixos/hvctl/commits

 -- hvctl developers <hvctl@hyper-nixos.invalid>  ${date}
CHANGES
gzip -9n "$out/changelog.Debian"
