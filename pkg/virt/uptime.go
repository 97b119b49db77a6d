package virt

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc on every architecture it runs on.
const clockTicks = 100

// procRoot and runDir are variables so tests can point them at fixtures.
var (
	procRoot = "/proc"
	runDir   = "/run/libvirt/qemu"
)

// localUptimes returns how long each named running domain's QEMU process has run, for a local
// qemu:///system connection, from libvirt's pid files and /proc: no RPC, and libvirt has no API
// for it. Domains it cannot tell about are left out.
func (c *Conn) localUptimes(names []string, now time.Time) map[string]int64 {
	if c.URI != "qemu:///system" {
		return nil
	}
	boot, err := bootTime()
	if err != nil {
		return nil
	}
	out := map[string]int64{}
	for _, n := range names {
		pidText, err := os.ReadFile(filepath.Join(runDir, n+".pid"))
		if err != nil {
			continue
		}
		start, err := processStart(strings.TrimSpace(string(pidText)), boot)
		if err != nil {
			continue
		}
		if up := int64(now.Sub(start).Seconds()); up >= 0 {
			out[n] = up
		}
	}
	return out
}

func bootTime() (time.Time, error) {
	data, err := os.ReadFile(filepath.Join(procRoot, "stat"))
	if err != nil {
		return time.Time{}, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, err
			}
			return time.Unix(secs, 0), nil
		}
	}
	return time.Time{}, fmt.Errorf("no btime in %s/stat", procRoot)
}

// processStart reads field 22 (starttime, in clock ticks after boot) of /proc/PID/stat. The
// command name (field 2) may hold spaces and parentheses, so fields are counted after the
// last ')'.
func processStart(pid string, boot time.Time) (time.Time, error) {
	if _, err := strconv.Atoi(pid); err != nil {
		return time.Time{}, fmt.Errorf("bad pid %q", pid)
	}
	data, err := os.ReadFile(filepath.Join(procRoot, pid, "stat"))
	if err != nil {
		return time.Time{}, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return time.Time{}, fmt.Errorf("malformed stat of %s", pid)
	}
	fields := strings.Fields(s[i+1:])
	// After ")": field 3 (state) is fields[0], so field 22 is fields[19].
	if len(fields) < 20 {
		return time.Time{}, fmt.Errorf("short stat of %s", pid)
	}
	ticks, err := strconv.ParseInt(fields[19], 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return boot.Add(time.Duration(ticks) * time.Second / clockTicks), nil
}
