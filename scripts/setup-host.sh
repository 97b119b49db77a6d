#!/usr/bin/env bash
# Installs everything hvctl needs to build and test on Debian 12, and (as root) starts the
# libvirt daemons the end-to-end tests use. Safe to run again: every step checks first.
set -euo pipefail

want=(pkg-config gcc libvirt-dev libvirt-daemon-system libvirt-clients qemu-system-x86
	qemu-utils dnsmasq-base xorriso isolinux syslinux syslinux-common mtools dosfstools fdisk cpio
	gzip expect ca-certificates nix-bin xxd time libglib2.0-0 libnuma1 libudev1 liburing2 libxml2-utils
	lintian binutils prometheus victoria-metrics prometheus-node-exporter nats-server)
missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "setup-host: missing packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
		exit 1
	fi
	echo "setup-host: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
	export PATH=/usr/local/go/bin:$PATH
fi

[[ $(id -u) -eq 0 ]] || exit 0
[[ ${HVCTL_SKIP_DAEMONS:-} == 1 ]] && exit 0

# A root-only /dev/kvm makes libvirtd re-probe QEMU on every call (define takes 80+ s).
# A libvirtd that started before the fix (apt's postinst starts it) keeps the bad probe: restart it.
if [[ -c /dev/kvm ]] && ! getent group kvm >/dev/null; then
	groupadd -r kvm
	if id libvirt-qemu >/dev/null 2>&1; then usermod -aG kvm libvirt-qemu; fi
fi
if [[ -c /dev/kvm ]] && [[ $(stat -c %G:%a /dev/kvm) != kvm:660 ]]; then
	chgrp kvm /dev/kvm && chmod 660 /dev/kvm
	if pkill --ns $$ --nslist mnt -x libvirtd; then
		for _ in $(seq 1 50); do pgrep --ns $$ --nslist mnt -x libvirtd >/dev/null || break; sleep 0.1; done
	fi
fi

start_daemon() { # name, then command
	local name=$1; shift
	# A daemon on its way out (just signalled) still shows in pgrep: let it finish first.
	for _ in $(seq 1 100); do
		pgrep --ns $$ --nslist mnt -x "$name" >/dev/null || break
		[[ $name != libvirtd || -S /run/libvirt/libvirt-sock ]] && return 0
		sleep 0.1
	done
	if pgrep --ns $$ --nslist mnt -x "$name" >/dev/null; then return 0; fi
	if [[ -d /run/systemd/system ]]; then
		systemctl start "$name" && return 0
	fi
	# The daemon must not inherit our descriptors: run from a test under
	# `flock /tmp/hvctl-e2e.lock` (TestDaemonDies restarts libvirtd this way), it would keep the
	# lock's descriptor open for its whole life and hold every later e2e run off.
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			((fd > 2)) && eval "exec $fd>&-" 2>/dev/null
		done
		exec "$@"
	)
}
start_daemon virtlogd /usr/sbin/virtlogd -d
start_daemon libvirtd /usr/sbin/libvirtd -d
for _ in $(seq 1 600); do
	[[ -S /run/libvirt/libvirt-sock ]] && break
	sleep 0.1
done
[[ -S /run/libvirt/libvirt-sock ]] || { echo "setup-host: libvirtd did not come up" >&2; exit 1; }
