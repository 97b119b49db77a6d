#!/usr/bin/env bash
# Builds the tiny test guest of the end-to-end tests from Debian packages (never committed):
# a Debian kernel plus a busybox initramfs with qemu-guest-agent, on a BIOS-bootable ISO.
# It gets an address by DHCP on every NIC, powers off on the ACPI button, offers a root shell on
# ttyS0, and takes its hostname from fw_cfg opt/hvctl/hostname.
# A cloud-init NoCloud seed (label cidata), when attached, gives the hostname (local-hostname).
# Usage: build.sh OUTDIR   (writes OUTDIR/guest.iso and OUTDIR/guest-disk.qcow2; OUTDIR/work
# is a cache)
set -euo pipefail
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out/work"
out=$(cd "$out" && pwd)
work=$out/work
here=$(cd "$(dirname "$0")" && pwd)

need=(xorriso cpio gzip sfdisk mkfs.fat syslinux mcopy qemu-img)
for t in "${need[@]}"; do command -v "$t" >/dev/null || { echo "build.sh: $t missing (run scripts/setup-host.sh)" >&2; exit 1; }; done
[[ -f /usr/lib/ISOLINUX/isolinux.bin ]] || { echo "build.sh: isolinux missing" >&2; exit 1; }

kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[[ -n $kpkg ]] || { echo "build.sh: cannot resolve linux-image-amd64" >&2; exit 1; }
stamp="$kpkg busybox-static qemu-guest-agent $(cat "$0" "$here"/rootfs/* | sha256sum | cut -c1-16)"
if [[ -f $out/guest.iso && -f $out/guest-disk.qcow2 && -f $out/stamp && $(cat "$out/stamp") == "$stamp" ]]; then
	exit 0
fi

mkdir -p "$work/debs"
(cd "$work/debs" && for p in "$kpkg" busybox-static qemu-guest-agent; do
	ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download -q "$p" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true
done)
rm -rf "$work/x" "$work/root"
mkdir -p "$work/x" "$work/root"
for d in "$work"/debs/*.deb; do dpkg-deb -x "$d" "$work/x"; done
kver=${kpkg#linux-image-}
bb=$work/x/bin/busybox
[[ -x $bb ]] || bb=$work/x/usr/bin/busybox
"$bb" depmod -b "$work/x" "$kver"

r=$work/root
mkdir -p "$r"/{bin,sbin,etc/init.d,etc/acpi/PWRF,proc,sys,dev,run,tmp,root,var/run,usr/share/udhcpc,lib/modules/"$kver",usr/sbin,usr/lib,lib64,lib/x86_64-linux-gnu}
cp "$bb" "$r/bin/busybox"
for applet in $("$bb" --list-full); do
	[[ $applet == bin/busybox ]] && continue
	mkdir -p "$r/$(dirname "$applet")"
	ln -sf /bin/busybox "$r/$applet"
done
ln -sf bin/busybox "$r/init"

# Modules: the ones we need and what modules.dep says they depend on.
mods=(virtio_pci virtio_net virtio_console virtio_blk e1000 button evdev qemu_fw_cfg ahci sr_mod isofs)
moddir=$work/x/lib/modules/$kver
declare -A want=()
resolve() {
	local name=$1 line path dep
	line=$(grep -E "/${name//_/[_-]}\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | head -1) || return 0
	path=${line%%:*}
	[[ -n ${want[$path]:-} ]] && return 0
	want[$path]=1
	for dep in ${line#*:}; do
		dep=$(basename "$dep"); dep=${dep%%.ko*}
		resolve "$dep"
	done
}
for m in "${mods[@]}"; do resolve "$m"; done
for p in "${!want[@]}"; do
	mkdir -p "$r/lib/modules/$kver/$(dirname "$p")"
	case $p in
	*.ko.xz) xz -dc "$moddir/$p" >"$r/lib/modules/$kver/${p%.xz}" ;;
	*.ko.zst) zstd -qdc "$moddir/$p" >"$r/lib/modules/$kver/${p%.zst}" ;;
	*) cp "$moddir/$p" "$r/lib/modules/$kver/$p" ;;
	esac
done
cp "$moddir"/modules.builtin* "$r/lib/modules/$kver/" 2>/dev/null || true
"$bb" depmod -b "$r" "$kver"

# The guest agent and the libraries it links (host and guest are the same Debian release).
cp "$work/x/usr/sbin/qemu-ga" "$r/usr/sbin/qemu-ga"
ldd "$work/x/usr/sbin/qemu-ga" | awk '/=>/ {print $3} /ld-linux/ {print $1}' | while read -r lib; do
	[[ -f $lib ]] || continue
	mkdir -p "$r$(dirname "$lib")"
	cp -L "$lib" "$r$lib"
done

cp "$here/rootfs/inittab" "$r/etc/inittab"
install -m 755 "$here/rootfs/rcS" "$r/etc/init.d/rcS"
install -m 755 "$here/rootfs/rcK" "$r/etc/init.d/rcK"
install -m 755 "$here/rootfs/udhcpc.script" "$r/usr/share/udhcpc/default.script"
install -m 755 "$here/rootfs/poweroff" "$r/sbin/guest-poweroff"
ln -sf /sbin/guest-poweroff "$r/etc/acpi/PWRF/00000080"
install -m 755 "$here/rootfs/shutdown" "$r/sbin/shutdown"
echo "root::0:0:root:/root:/bin/sh" >"$r/etc/passwd"
echo "root:x:0:" >"$r/etc/group"

(cd "$r" && find . | cpio -o -H newc --quiet | gzip -9 -n) >"$work/initrd.gz"

iso=$work/iso
rm -rf "$iso"; mkdir -p "$iso/isolinux"
cp /usr/lib/ISOLINUX/isolinux.bin "$iso/isolinux/"
cp /usr/lib/syslinux/modules/bios/ldlinux.c32 "$iso/isolinux/"
cp "$work/x/boot/vmlinuz-$kver" "$iso/vmlinuz"
cp "$work/initrd.gz" "$iso/initrd.gz"
cat >"$iso/isolinux/isolinux.cfg" <<EOF
SERIAL 0 115200
DEFAULT guest
TIMEOUT 0
PROMPT 0
LABEL guest
  KERNEL /vmlinuz
  APPEND initrd=/initrd.gz console=ttyS0,115200 quiet
EOF
# The same kernel and initramfs on a small BIOS-bootable qcow2 disk, as a base image for
# overlays; no loop devices or mounts (syslinux and mtools work on the image file).
raw=$work/disk.raw
rm -f "$raw"
truncate -s 41M "$raw"
echo 'start=2048, type=6, bootable' | sfdisk -q "$raw"
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$raw" bs=440 count=1 conv=notrunc status=none
mkfs.fat -F 16 -h 2048 --offset 2048 -n GUEST "$raw" >/dev/null
syslinux --install --offset 1048576 "$raw"
sed 's|/isolinux/|/|' "$iso/isolinux/isolinux.cfg" >"$work/syslinux.cfg"
mcopy -i "$raw@@1M" "$work/x/boot/vmlinuz-$kver" ::vmlinuz
mcopy -i "$raw@@1M" "$work/initrd.gz" ::initrd.gz
mcopy -i "$raw@@1M" "$work/syslinux.cfg" ::syslinux.cfg
qemu-img convert -q -f raw -O qcow2 "$raw" "$out/guest-disk.qcow2.tmp"
chmod 644 "$out/guest-disk.qcow2.tmp"
mv -f "$out/guest-disk.qcow2.tmp" "$out/guest-disk.qcow2"

xorriso -as mkisofs -quiet -o "$out/guest.iso.tmp" -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin \
	-b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table "$iso"
chmod 644 "$out/guest.iso.tmp"
# Replace, never rewrite in place: libvirt may have chowned the old file.
mv -f "$out/guest.iso.tmp" "$out/guest.iso"
echo "$stamp" >"$out/stamp"
