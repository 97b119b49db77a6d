#!/usr/bin/env bash
# Benchmark: event latency. An inactive diskless domain is started and destroyed N times (200)
# through libvirt; for each call, the time from its return until the started/stopped event
# reaches `vmctl events` (its NDJSON line read from a pipe), a NATS subscriber of what that same
# `vmctl events --tee --nats` publishes (Debian's nats-server on loopback), and `virsh event
# --loop` (line-buffered), all in the same run. Prints median, p99 and max per reader. Not a
# test: not run in CI. Needs root and a running libvirtd; run it under the e2e lock on a shared
# machine. Usage: bench/events.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
uri=qemu:///system
export PATH=/usr/local/go/bin:$PATH
[[ $(id -u) -eq 0 ]] || { echo "bench: run as root (it defines a domain on $uri)" >&2; exit 2; }
command -v nats-server >/dev/null || PATH=$PATH:/usr/sbin
command -v nats-server >/dev/null ||
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nats-server >/dev/null

mkdir -p bin
go build -trimpath -ldflags '-s -w' -o bin/hvctl ./cmd/hvctl
ln -sf hvctl bin/vmctl
go build -o bin/eventlat ./bench/eventlat
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
nats-server -a 127.0.0.1 -p "$port" >/dev/null 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done

echo "bench: $n start/destroy cycles of an inactive diskless domain on $uri ($(nproc) CPUs, libvirt $(virsh -c $uri version --daemon | sed -n 's/.*daemon: *//p'))" >&2
bin/eventlat -c "$uri" -n "$n" -vmctl bin/vmctl -nats "nats://127.0.0.1:$port" -domain t-events-bench
