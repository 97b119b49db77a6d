package journal

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// writerEnv makes the test binary a journal writer process instead of running the tests: it
// appends $JOURNAL_WRITER_RECORDS records (Begin and Finish each, as hvctl does) to the
// journal at $JOURNAL_WRITER, opening it anew for each like separate commands would.
const writerEnv = "JOURNAL_WRITER"

func TestMain(m *testing.M) {
	if path := os.Getenv(writerEnv); path != "" {
		os.Exit(writer(path))
	}
	os.Exit(m.Run())
}

func writer(path string) int {
	n, _ := strconv.Atoi(os.Getenv(writerEnv + "_RECORDS"))
	for i := range n {
		ctx := context.Background()
		j, err := Open(ctx, path, Options{Retention: 24 * time.Hour})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		e := Entry{Time: time.Now(), Command: "vmctl start", Kind: "vm", Argv: []string{"vmctl", "start", "vm"},
			Targets: []string{fmt.Sprintf("p%d-%d", os.Getpid(), i)}}
		id, err := j.Begin(ctx, e)
		if err == nil {
			err = j.Finish(ctx, id, Outcome{Duration: time.Millisecond})
		}
		if i == n-1 {
			j.Abandon() // the process exits next, as hvctl's do
		} else {
			j.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// Many processes writing at once lose no record and leave a sound database: the journal's
// promise under `vmctl start` run from several shells, timers and scripts at once.
func TestParallelWriterProcesses(t *testing.T) {
	const procs, each = 12, 25
	path := filepath.Join(t.TempDir(), FileName)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, procs)
	outs := make([][]byte, procs)
	for p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(exe)
			cmd.Env = append(os.Environ(), writerEnv+"="+path, writerEnv+"_RECORDS="+strconv.Itoa(each))
			outs[p], errs[p] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for p := range procs {
		if errs[p] != nil {
			t.Errorf("writer %d: %v: %s", p, errs[p], outs[p])
		}
	}
	j, err := Open(context.Background(), path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	recs, err := j.Query(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if r.ExitCode == nil || *r.ExitCode != 0 || len(r.Targets) != 1 || !r.Targets[0].OK {
			t.Errorf("record %d incomplete: %+v", r.ID, r)
			continue
		}
		seen[r.Targets[0].Name] = true
	}
	if len(recs) != procs*each || len(seen) != procs*each {
		t.Errorf("%d records, %d distinct targets; want %d", len(recs), len(seen), procs*each)
	}
	if err := j.Check(context.Background()); err != nil {
		t.Error(err)
	}
	var mode string
	if err := j.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q, %v; want wal", mode, err)
	}
}
