#!/usr/bin/env bash
# second-host.sh start [--own-storage]|stop|status|uri|images — a second libvirt host on this
# machine, for multi-host and migration tests (issue 14). As root.
#
# The second libvirtd runs in its own network, mount, UTS and PID namespaces: its own /run,
# /etc/libvirt (a different host_uuid), /var/lib/libvirt, /var/cache/libvirt and host name, so
# libvirt treats it as another host. It shares only /var/lib/libvirt/images with this host
# (shared storage, as migration without --copy-storage needs). With --own-storage it does not:
# its /var/lib/libvirt/images is an empty directory of its own (from here: `images` prints
# where), as on a host that has only local disks, which `vmctl migrate --copy-storage` fills.
# A start in the other storage mode than the running host's restarts it. The two hosts talk over
# a veth pair that exists only inside this machine (10.213.0.1 here, 10.213.0.2 there; no route
# beyond it):
#   from here:   qemu+tcp://10.213.0.2/system   (auth none, listening on the veth address only)
#   from there:  qemu+unix:///system?socket=$BASE/host1/libvirt-sock   (this host's own socket)
# Migration data flows between the two veth addresses (tcp://10.213.0.2, tcp://10.213.0.1).
#
# Measured here (libvirt 9.0, QEMU 7.2, TCG): a 64 MiB guest migrates live there and back in
# about 3.6 s each way. The first start probes QEMU's capabilities; $BASE/cache keeps them.
set -euo pipefail

name=${HVCTL_H2_NAME:-hvctl-h2}
base=${HVCTL_H2_BASE:-/tmp/$name}
here=${HVCTL_H2_HERE:-10.213.0.1}
there=${HVCTL_H2_THERE:-10.213.0.2}
veth_here=${HVCTL_H2_VETH:-hvh2a}
veth_there=${veth_here%a}b

uri() { echo "qemu+tcp://$there/system"; }

running() { [[ -f $base/pid ]] && kill -0 "$(cat "$base/pid")" 2>/dev/null; }

# The second host's /var/lib/libvirt/images as seen from here: its own directory with
# --own-storage, else this host's.
images() {
	if [[ $(cat "$base/storage" 2>/dev/null) == own ]]; then
		echo "$base/varlib/images"
	else
		echo /var/lib/libvirt/images
	fi
}

stop() {
	if [[ -f $base/pid ]]; then
		# unshare runs with --kill-child: its death takes the namespace's PID 1, and so every
		# process in it (libvirtd, virtlogd, QEMU), with it.
		kill -9 "$(cat "$base/pid")" 2>/dev/null || true
		rm -f "$base/pid"
	fi
	rm -f "$base/storage"
	ip link del "$veth_here" 2>/dev/null || true
	ip netns del "$name" 2>/dev/null || true
}

start() {
	local storage=shared
	case ${1:-} in
	--own-storage) storage=own ;;
	"") ;;
	*) echo "second-host: start takes only --own-storage, not $1" >&2; exit 2 ;;
	esac
	[[ $(id -u) -eq 0 ]] || { echo "second-host: run as root" >&2; exit 1; }
	if running && [[ $(cat "$base/storage" 2>/dev/null) == "$storage" ]] && virsh -c "$(uri)" version >/dev/null 2>&1; then
		uri
		return 0
	fi
	stop
	ip netns add "$name"
	ip link add "$veth_here" type veth peer name "$veth_there"
	ip link set "$veth_there" netns "$name"
	ip addr add "$here/30" dev "$veth_here"
	ip link set "$veth_here" up
	ip netns exec "$name" ip addr add "$there/30" dev "$veth_there"
	ip netns exec "$name" ip link set "$veth_there" up
	ip netns exec "$name" ip link set lo up

	# Everything but the capability cache starts empty: no domains, networks or pools carried over.
	# (The images bind mount below lives in the namespace only: here varlib/images is a plain
	# directory, so removing it never reaches the shared images.)
	rm -rf "$base/etc" "$base/varlib" "$base/log"
	mkdir -p "$base"/{etc/qemu,varlib/images,cache,log,host1}
	echo "$storage" >"$base/storage"
	local share_images="mount --bind /var/lib/libvirt/images $base/varlib/images"
	if [[ $storage == own ]]; then
		share_images=":"
	fi
	cp /etc/libvirt/*.conf "$base/etc/"
	cat >>"$base/etc/libvirtd.conf" <<-CONF
		host_uuid = "$(cat /proc/sys/kernel/random/uuid)"
		listen_tcp = 1
		listen_tls = 0
		auth_tcp = "none"
		listen_addr = "$there"
	CONF
	# Without systemd, both daemons would name their cgroups alike (machine/qemu-ID-NAME): the
	# second host keeps out of cgroups altogether.
	echo 'cgroup_controllers = [ ]' >>"$base/etc/qemu.conf"

	ip netns exec "$name" unshare --kill-child=SIGKILL --mount --uts --pid --fork --mount-proc \
		--propagation private bash -c "
		set -e
		hostname $name
		mount --bind $base/etc /etc/libvirt
		$share_images
		mount --rbind $base/varlib /var/lib/libvirt
		mount --bind $base/cache /var/cache/libvirt
		mount --bind $base/log /var/log/libvirt
		mount --bind /run/libvirt $base/host1
		mount -t tmpfs tmpfs /run
		mkdir -p /run/libvirt
		for fd in /proc/\$\$/fd/*; do fd=\${fd##*/}; ((fd > 2)) && eval \"exec \$fd>&-\" 2>/dev/null || true; done
		/usr/sbin/virtlogd -d
		/usr/sbin/libvirtd -d --listen
		# PID 1 of the namespace must reap: QEMU's capability probes daemonize and are reparented
		# to it, and libvirt waits (40 s each) for probes that stay zombies.
		while :; do sleep 3600 & wait \$! || true; done
	" >"$base/daemon.log" 2>&1 </dev/null &
	echo $! >"$base/pid"
	for _ in $(seq 1 300); do
		virsh -c "$(uri)" version >/dev/null 2>&1 && { uri; return 0; }
		running || break
		sleep 0.2
	done
	echo "second-host: libvirtd in $name did not come up; see $base/daemon.log" >&2
	stop
	exit 1
}

case ${1:-} in
start) start "${2:-}" ;;
stop) stop ;;
status) running && virsh -c "$(uri)" hostname ;;
uri) uri ;;
images) images ;;
*) echo "usage: $0 start [--own-storage]|stop|status|uri|images" >&2; exit 2 ;;
esac
