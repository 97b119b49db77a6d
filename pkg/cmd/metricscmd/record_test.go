package metricscmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/iostreams"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/stats"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestMain lets a test run this binary as N separate `metrics record` processes: with
// HVCTL_TEST_RECORDER=N set it records N times on the test driver and exits with the exit code
// hvctl would give.
func TestMain(m *testing.M) {
	if n, err := strconv.Atoi(os.Getenv("HVCTL_TEST_RECORDER")); err == nil {
		os.Exit(recorderProcess(n))
	}
	os.Exit(m.Run())
}

func recorderProcess(n int) int {
	for range n {
		// The process's own environment, without the machine's configuration files.
		env := map[string]string{"HVCTL_URI": os.Getenv("HVCTL_URI"), "HVCTL_PATHS_STATE": os.Getenv("HVCTL_PATHS_STATE"),
			"HVCTL_SYSTEM_CONFIG": "/nonexistent", "HOME": "/nonexistent"}
		f := &cmdutil.Factory{IO: iostreams.System(), Getenv: func(k string) string { return env[k] }, Now: time.Now, Prog: "hvctl", Global: &cmdutil.Global{}}
		fs := pflag.NewFlagSet("global", pflag.ContinueOnError)
		fs.BoolVarP(&f.Global.Quiet, "quiet", "q", false, "")
		f.Global.Flags = fs
		if err := recordArgs(f, "record", "-q"); err != nil {
			fmt.Fprintf(os.Stderr, "hvctl: %v\n", err)
			return errs.KindOf(err).ExitCode()
		}
	}
	return 0
}

func recordArgs(f *cmdutil.Factory, argv ...string) error {
	root := &cobra.Command{Use: "hvctl", SilenceErrors: true, SilenceUsage: true}
	root.PersistentFlags().AddFlagSet(f.Global.Flags)
	root.AddCommand(NewCmdRecord(f, nil))
	root.SetArgs(argv)
	return root.ExecuteContext(context.Background())
}

func fixtureURI(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../../testdata/libvirt/host.xml")
	if err != nil {
		t.Fatal(err)
	}
	return "test://" + p
}

func TestNewCmdRecord(t *testing.T) {
	check(t, func(f *cmdutil.Factory, r func(context.Context, *RecordOptions) error) *cobra.Command {
		return NewCmdRecord(f, r)
	},
		func(o *RecordOptions) string {
			return fmt.Sprintf("retention=%s max_rows=%d json=%v", o.Retention, o.MaxRows, o.F.Global.JSON)
		}, []flagCase{
			{argv: []string{"record"}, want: "retention= max_rows=-1 json=false"},
			{argv: []string{"record", "--retention", "7d", "--max-rows", "0", "--json"}, want: "retention=7d max_rows=0 json=true"},
			{argv: []string{"record", "--retention", "36h", "--max-rows", "500000"}, want: "retention=36h max_rows=500000 json=false"},
			{argv: []string{"record", "--retention", "forever"}, err: errs.Usage},
			{argv: []string{"record", "--retention", "0d"}, err: errs.Usage},
			{argv: []string{"record", "--max-rows", "-1"}, err: errs.Usage},
			{argv: []string{"record", "-o", "name"}, err: errs.Usage},
		})
}

// TestRecordOnTestDriver records the fixture host twice and reads the database back.
func TestRecordOnTestDriver(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	env := map[string]string{"HVCTL_URI": fixtureURI(t), "HVCTL_PATHS_STATE": state, "HVCTL_METRICS_MAX_ROWS": "6"}
	var res model.RecordResult
	for i := range 2 {
		f, out, stderr := cmdutiltest.NewFactory(t, env)
		args := []string{"record", "--json"}
		if i == 1 {
			args = []string{"record"}
		}
		if err := recordArgs(f, args...); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("--json: %v\n%s", err, out)
			}
			if res.VMs != 4 || res.Rows != 4 || res.Database != filepath.Join(state, "metrics.db") || res.RetentionSeconds != 30*86400 || res.MaxRows != 6 ||
				!strings.Contains(out.String(), `"pruned_rows":0`) || !strings.Contains(out.String(), `"timed_out":[]`) {
				t.Errorf("result %s: want the fixture's 4 active VMs (web-01, web-02, batch paused, scratch)", out)
			}
			continue
		}
		// The row cap from the environment keeps 6 of 8; the line says so.
		if want := "recorded 4 VMs in " + filepath.Join(state, "metrics.db") + " (6 samples kept, 2 pruned)\n"; stderr.String() != want || out.Len() != 0 {
			t.Errorf("stderr %q, stdout %q; want %q", stderr, out, want)
		}
	}
	db, err := stats.OpenHistory(context.Background(), filepath.Join(state, "metrics.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(DISTINCT name) FROM samples JOIN hosts ON hosts.id = host_id WHERE uri = ?`, env["HVCTL_URI"]).Scan(&n); err != nil || n != 4 {
		t.Errorf("%d VMs recorded under the URI, %v", n, err)
	}
}

// TestRecordConcurrentProcesses runs several recorder processes at once against one database,
// then counts the rows and checks SQLite's integrity: no record lost, none half-written.
func TestRecordConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const procs, each, vms = 6, 8, 4
	state := filepath.Join(t.TempDir(), "state")
	var wg sync.WaitGroup
	errc := make(chan error, procs)
	for p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "HVCTL_TEST_RECORDER="+strconv.Itoa(each), "HVCTL_URI="+fixtureURI(t), "HVCTL_PATHS_STATE="+state)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				errc <- fmt.Errorf("recorder %d: %v: %s", p, err, stderr.String())
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	db, err := stats.OpenHistory(context.Background(), filepath.Join(state, "metrics.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, records int
	var integrity string
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT time_ns) FROM samples`).Scan(&rows, &records); err != nil {
		t.Fatal(err)
	}
	if rows != procs*each*vms || records != procs*each {
		t.Errorf("%d rows in %d records; want %d in %d", rows, records, procs*each*vms, procs*each)
	}
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("integrity_check: %q, %v", integrity, err)
	}
}

// TestRecordUnwritableStateDir: a state directory hvctl cannot create or write is one line and
// exit code 7, before libvirt is asked (the URI here would fail to connect otherwise).
func TestRecordUnwritableStateDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, _, _ := cmdutiltest.NewFactory(t, map[string]string{"HVCTL_URI": "qemu+tcp://192.0.2.1/system", "HVCTL_PATHS_STATE": filepath.Join(file, "state")})
	err := recordArgs(f, "record")
	if errs.KindOf(err) != errs.Unreachable || strings.Contains(err.Error(), "\n") ||
		err.Error() != "metrics record: "+filepath.Join(file, "state", "metrics.db")+": "+file+" is a file, not a directory" {
		t.Errorf("state dir under a file: %v (%v); want one line, exit 7", err, errs.KindOf(err))
	}
}

// TestRecordReadOnlyStateDir records into a state directory on a read-only mount: a private
// mount namespace (unshare, as root) bind-mounts it read-only for the recorder process alone.
func TestRecordReadOnlyStateDir(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if os.Getuid() != 0 || err != nil {
		t.Skip("needs root and unshare(1) for a private read-only mount") // non-root: covered by statedb's permission test
	}
	state := t.TempDir()
	script := `mount --bind -o ro "$0" "$0" && exec "$1" -test.run='^$'`
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c", script, state, os.Args[0])
	cmd.Env = append(os.Environ(), "HVCTL_TEST_RECORDER=1", "HVCTL_URI="+fixtureURI(t), "HVCTL_PATHS_STATE="+state)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	code := -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	first, _, _ := strings.Cut(stderr.String(), "\n")
	if code != errs.Unreachable.ExitCode() || first != "hvctl: metrics record: "+filepath.Join(state, "metrics.db")+": cannot write: the state directory is on a read-only file system" {
		t.Errorf("read-only state dir: exit %d, stderr %q; want exit 7 and one line", code, stderr.String())
	}
	if entries, _ := os.ReadDir(state); len(entries) != 0 {
		t.Errorf("the read-only directory got %v", entries)
	}
}

// TestRecordCompletion offers retention spans and row caps, never file names.
func TestRecordCompletion(t *testing.T) {
	for flag, want := range map[string]string{"--retention": "7d\n30d\n90d\n12h\n:4\n", "--max-rows": "0\tno cap\n500000\n2000000\n:4\n"} {
		f, out, _ := cmdutiltest.NewFactory(t, nil)
		root := &cobra.Command{Use: "hvctl"}
		root.PersistentFlags().AddFlagSet(f.Global.Flags)
		root.AddCommand(NewCmdRecord(f, nil))
		root.SetOut(out)
		root.SetErr(&bytes.Buffer{})
		root.SetArgs([]string{"__complete", "record", flag, ""})
		if err := root.Execute(); err != nil || out.String() != want {
			t.Errorf("%s: %q, %v; want %q", flag, out, err, want)
		}
	}
}

// TestRecordRetentionTooLong: a --retention past time.Duration's 292 years is said to be too
// long; it was "want a positive duration such as 30d", which 200000d is.
func TestRecordRetentionTooLong(t *testing.T) {
	f, _, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(map[string]string{"HVCTL_PATHS_STATE": t.TempDir()}))
	err := recordArgs(f, "record", "--retention", "200000d")
	if want := `--retention "200000d": too long, at most 292 years`; errs.KindOf(err) != errs.Usage || err == nil || err.Error() != want {
		t.Errorf("got %v (%v), want a usage error %q", err, errs.KindOf(err), want)
	}
}
