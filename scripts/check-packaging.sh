#!/usr/bin/env bash
# Validates the packaging as far as a machine without Nix's store or network allows:
#   - every .nix file parses (nix-instantiate --parse; evaluating or building needs nixpkgs,
#     which is not here),
#   - nix/package.nix's vendorHash matches `go mod vendor`,
#   - goreleaser accepts .goreleaser.yaml,
#   - a snapshot release builds (.deb, .rpm), lintian finds no error in the .deb, the binary is
#     PIE and needs no newer libvirt or glibc symbol versions than the packages depend on, the
#     links are relative, and the RPM puts zsh completions where Fedora's zsh looks.
# With -w it rewrites a stale vendorHash. HVCTL_SKIP_RELEASE_BUILD=1 skips the snapshot (about
# 1.5 minutes cold, 1 warm, plus lintian's minute).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$HOME/go/bin:$PATH
fail() { echo "check-packaging: $*" >&2; exit 1; }

nix_files=$(git ls-files '*.nix' 2>/dev/null || find . -name '*.nix' -not -path './dist/*')
for f in $nix_files; do
	NIX_CONFIG="build-users-group =" nix-instantiate --parse "$f" >/dev/null || fail "$f does not parse"
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
		fail "nix/package.nix vendorHash is $have, go mod vendor gives $want (run scripts/check-packaging.sh -w)"
	fi
fi

if ! command -v goreleaser >/dev/null; then
	(cd /tmp && go install github.com/goreleaser/goreleaser/v2@v2.15.1)
fi
goreleaser check -q 2>&1 || fail "goreleaser check failed"

[[ ${HVCTL_SKIP_RELEASE_BUILD:-} == 1 ]] && exit 0

# validate is skipped: it refuses a dirty tree, which a developer's run has.
goreleaser release --snapshot --clean --skip=publish,announce,sign,sbom,validate >"$tmp/goreleaser.log" 2>&1 ||
	{ cat "$tmp/goreleaser.log" >&2; fail "goreleaser could not build a snapshot"; }
deb=$(ls dist/*.deb) rpm=$(ls dist/*.rpm) bin=$(ls dist/hvctl_linux_amd64*/hvctl)

# Errors fail; warnings are shown. (As root lintian also warns about that: not the package's.)
lintian_ok=1
lintian --fail-on error --tag-display-limit 0 "$deb" >"$tmp/lintian.log" 2>&1 || lintian_ok=0
grep -v 'running with root privileges' "$tmp/lintian.log" >&2 || true
[[ $lintian_ok == 1 ]] || fail "lintian reports errors in $deb"

readelf -h "$bin" | grep -q 'Type:.*DYN' || fail "$bin is not PIE"
# The newest symbol versions the binary needs must not exceed what the packages depend on.
for lib in LIBVIRT:libvirt0 GLIBC:libc6; do
	sym=${lib%%:*} pkg=${lib#*:}
	need=$(objdump -T "$bin" | grep -o "${sym}_[0-9.]*" | sed "s/${sym}_//" | sort -Vu | tail -1)
	dep=$(sed -n "s/.*\"$pkg (>= \([0-9.]*\))\".*/\1/p" .goreleaser.yaml)
	[[ -n $need && -n $dep ]] || fail "cannot read the $sym version (binary: '$need', .goreleaser.yaml: '$dep')"
	[[ $(printf '%s\n%s\n' "$need" "$dep" | sort -V | tail -1) == "$dep" ]] ||
		fail "the binary needs ${sym}_$need but the .deb depends on $pkg (>= $dep)"
done
dpkg-deb -c "$deb" | grep -- ' -> /' && fail "absolute symlinks in $deb"
# /usr/bin/vmctl is not shipped (victoria-metrics owns one): the maintainer scripts make it.
dpkg-deb -c "$deb" | grep -q ' \./usr/bin/vmctl ' && fail "$deb ships /usr/bin/vmctl, which victoria-metrics's package owns"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./postinst | grep -q 'ln -s hvctl' || fail "$deb's postinst does not link vmctl"
sh -n packaging/vmctl-link.sh || fail "packaging/vmctl-link.sh does not parse"

# rpm_files lists an RPM's payload without rpm: the lead (96 bytes), the signature header
# (padded to 8 bytes), the main header, then nfpm's gzip'd cpio.
rpm_files() {
	local f=$1 off n h
	be32() { od -An -tu4 --endian=big -j "$1" -N4 "$f" | tr -d ' '; }
	off=96
	n=$(be32 $((off + 8))) h=$(be32 $((off + 12)))
	off=$(((off + 16 + 16 * n + h + 7) / 8 * 8))
	n=$(be32 $((off + 8))) h=$(be32 $((off + 12)))
	off=$((off + 16 + 16 * n + h))
	tail -c +$((off + 1)) "$f" | gzip -dc | cpio -t --quiet
}
rpm_files "$rpm" >"$tmp/rpm.files"
grep -qx /usr/share/zsh/site-functions/_hvctl "$tmp/rpm.files" || fail "$rpm has no /usr/share/zsh/site-functions/_hvctl"
grep -q vendor-completions "$tmp/rpm.files" && fail "$rpm uses Debian's zsh directory"
echo "check-packaging: $deb and $rpm are clean" >&2
