package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/model"
)

// listener is a TCP socket in LISTEN state, with the process that holds it when /proc says.
type listener struct {
	addr netip.Addr
	port int
	pid  string // "" when no process under /proc holds the socket's inode (or /proc/PID/fd is unreadable)
	comm string
	vm   string // the VM whose QEMU holds it
}

func (l listener) String() string { return netip.AddrPortFrom(l.addr, uint16(l.port)).String() }

// process names the listener's owner for a finding's location.
func (l listener) process() string {
	if l.pid == "" {
		return ""
	}
	return "pid " + l.pid + " (" + l.comm + ")"
}

// libvirts says whether the socket may be libvirt's: held by a libvirt daemon, by systemd (a
// socket unit, before and while it activates the daemon), or by no process /proc shows (the
// audit cannot tell, so it assumes the worst). Another program on libvirt's port is not libvirt.
func (l listener) libvirts() bool {
	switch l.comm {
	case "", "libvirtd", "virtproxyd", "systemd", "init":
		return true
	}
	return false
}

func (l listener) loc() *model.FindingLocation {
	return &model.FindingLocation{Process: l.process(), VM: l.vm}
}

// listeners are the host's LISTEN sockets, read once per inventory.
func listeners(inv *Inventory) ([]listener, error) {
	inv.listenOnce.Do(func() { inv.listen, inv.listenErr = readListeners(inv) })
	return inv.listen, inv.listenErr
}

// readListeners reads /proc/net/tcp and tcp6 for sockets in LISTEN state (0A) and maps each
// socket's inode to the process holding it through /proc/PID/fd.
func readListeners(inv *Inventory) ([]listener, error) {
	var out []listener
	inodes := map[string]int{}
	read := 0
	for _, f := range []string{"proc/net/tcp", "proc/net/tcp6"} {
		data, err := inv.Read(f)
		if err != nil {
			continue
		}
		read++
		for _, line := range strings.Split(data, "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 4 || fields[3] != "0A" {
				continue
			}
			hostHex, portHex, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			port, err := strconv.ParseUint(portHex, 16, 16)
			if err != nil {
				continue
			}
			if a, ok := procAddr(hostHex); ok {
				out = append(out, listener{addr: a, port: int(port)})
				if len(fields) > 9 {
					inodes[fields[9]] = len(out) - 1
				}
			}
		}
	}
	if read == 0 {
		return nil, fmt.Errorf("cannot read /proc/net/tcp")
	}
	vms := qemuPids(inv)
	fds, _ := filepath.Glob(inv.Path("proc/[0-9]*/fd/*"))
	for _, fd := range fds {
		target, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(target, "socket:[") {
			continue
		}
		i, ok := inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")]
		if !ok || out[i].pid != "" {
			continue
		}
		pid := filepath.Base(filepath.Dir(filepath.Dir(fd)))
		comm, _ := inv.Read(filepath.Join("proc", pid, "comm"))
		out[i].pid, out[i].comm, out[i].vm = pid, comm, vms[pid]
	}
	return out, nil
}

// procAddr decodes /proc/net/tcp's address: 32-bit words in host (little-endian) order.
func procAddr(h string) (netip.Addr, bool) {
	b, err := hex.DecodeString(h)
	if err != nil || len(b)%4 != 0 {
		return netip.Addr{}, false
	}
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	a, ok := netip.AddrFromSlice(b)
	return a.Unmap(), ok
}

// qemuPids maps the QEMU pids of running VMs (from libvirt's pid files) to the VMs' names.
func qemuPids(inv *Inventory) map[string]string {
	out := map[string]string{}
	for _, d := range inv.Domains {
		if d.Live == nil {
			continue
		}
		if pid, err := inv.Read(filepath.Join("run/libvirt/qemu", d.Name+".pid")); err == nil {
			out[pid] = d.Name
		}
	}
	return out
}

// forEachQEMUPid applies check to each running VM's QEMU pid, from libvirt's pid files.
func forEachQEMUPid(inv *Inventory, check func(name, pid string) Result) []Result {
	var out []Result
	for _, d := range inv.Domains {
		if d.Live == nil {
			continue
		}
		pid, err := inv.Read(filepath.Join("run/libvirt/qemu", d.Name+".pid"))
		if err != nil {
			out = append(out, errored(d.Name, err))
			continue
		}
		r := check(d.Name, pid)
		if r.Location == nil {
			comm, _ := inv.Read(filepath.Join("proc", pid, "comm"))
			r.Location = &model.FindingLocation{VM: d.Name, Process: "pid " + pid + " (" + or(comm, "qemu") + ")"}
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return []Result{skipped("host", "no running VM")}
	}
	return out
}

// forEachQEMU applies check to the /proc status of each running VM's QEMU process.
func forEachQEMU(inv *Inventory, check func(name, status string) Result) []Result {
	return forEachQEMUPid(inv, func(name, pid string) Result {
		status, err := inv.Read(filepath.Join("proc", pid, "status"))
		if err != nil {
			return errored(name, err)
		}
		return check(name, status)
	})
}

func statusField(status, key string) []string {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			return strings.Fields(v)
		}
	}
	return nil
}

// running says whether a process with this command name runs (under /proc of the root).
func running(inv *Inventory, comm string) bool {
	procs, _ := filepath.Glob(inv.Path("proc/[0-9]*/comm"))
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == comm {
			return true
		}
	}
	return false
}

// Firewall is the host's packet-filter state as its own tools print it.
type Firewall struct {
	Source string // the command that printed Rules: "nft list ruleset" or "iptables-save"
	Rules  string
	Err    error // neither tool could be run or read the state (not root?)
}

// ReadFirewall reads the live host's ruleset with the read-only listing commands of nftables
// and iptables; it changes nothing.
func ReadFirewall(ctx context.Context) *Firewall {
	var errs []error
	for _, argv := range [][]string{{"nft", "list", "ruleset"}, {"iptables-save"}} {
		path, err := exec.LookPath(argv[0])
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, path, argv[1:]...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err = cmd.Run()
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String())))
			continue
		}
		return &Firewall{Source: strings.Join(argv, " "), Rules: stdout.String()}
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("neither nft nor iptables-save is installed"))
	}
	return &Firewall{Err: errors.Join(errs...)}
}
