package top

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// procIDs are the job-control ids of one process, from /proc/PID/stat.
type procIDs struct{ ppid, pgrp, session int }

// groupOrphaned reports whether this process's group is orphaned, as POSIX defines it: none of
// its members has a parent in another group of the same session, so no job-control shell
// watches it. The kernel discards the terminal's stop signals for such a group, because nothing
// would continue it; a top that stopped itself there would stay stopped until someone sent
// SIGCONT by hand (a shell that died, a process started with setsid). When /proc cannot be read,
// the group is taken to have a shell, as before.
func groupOrphaned() bool {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return false
	}
	procs := make(map[int]procIDs, len(stats))
	for _, path := range stats {
		ids, ok := readProcIDs(path)
		if !ok {
			continue // it exited while we looked
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		procs[pid] = ids
	}
	me, ok := procs[os.Getpid()]
	if !ok {
		return false
	}
	for _, p := range procs {
		if p.pgrp != me.pgrp {
			continue
		}
		if parent, ok := procs[p.ppid]; ok && parent.session == me.session && parent.pgrp != me.pgrp {
			return false
		}
	}
	return true
}

// readProcIDs reads the parent, process group and session of /proc/PID/stat. The command name
// in parentheses may hold spaces and parentheses itself, so the fields are counted after its
// last ')'.
func readProcIDs(path string) (procIDs, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procIDs{}, false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 4 { // state ppid pgrp session …
		return procIDs{}, false
	}
	var ids [3]int
	for i := range ids {
		if ids[i], err = strconv.Atoi(f[i+1]); err != nil {
			return procIDs{}, false
		}
	}
	return procIDs{ppid: ids[0], pgrp: ids[1], session: ids[2]}, true
}

// stopGroup stops this process's group as the terminal's Ctrl-Z would have. SIGSTOP rather
// than SIGTSTP: Go's runtime keeps handling SIGTSTP once it was notified, so it would not stop.
func stopGroup() { _ = syscall.Kill(0, syscall.SIGSTOP) }
