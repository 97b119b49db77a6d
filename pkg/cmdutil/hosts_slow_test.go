package cmdutil_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/app"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// Slow and unreachable hosts under `vmctl list --host`, run in-process through the real root
// (exit codes and stderr exactly as a user sees them). The answering hosts are libvirt's test
// driver; a slow host is a loopback listener that accepts and never answers (a daemon that is
// stuck, or a link that drops everything), a refused one a loopback port nobody listens on.

// silentHost returns the URI of a libvirt host that accepts connections and never answers.
func silentHost(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return "qemu+tcp://" + ln.Addr().String() + "/system"
}

// refusedHost returns the URI of a libvirt host whose port refuses connections: one taken on
// loopback and given back.
func refusedHost(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "qemu+tcp://" + addr + "/system"
}

// answeringHosts are two test-driver hosts: a (test:///default, the VM "test") and b (the
// fixture host, web-01 and others).
func answeringHosts(t *testing.T) map[string]string {
	t.Helper()
	fixture, err := filepath.Abs("../../testdata/libvirt/host.xml")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"a": "test:///default", "b": "test://" + fixture}
}

// vmctlOnHosts runs vmctl with a configuration whose [hosts] are hosts (name → URI).
func vmctlOnHosts(t *testing.T, hosts map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var cfg strings.Builder
	for name, uri := range hosts {
		fmt.Fprintf(&cfg, "[hosts.%s]\nuri = %q\n", name, uri)
	}
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	f, out, errOut := cmdutiltest.NewFactory(t, nil)
	f.Prog = "vmctl"
	code = app.Run(append([]string{"vmctl", "--config", path}, args...), f)
	return out.String(), errOut.String(), code
}

// tableHosts is the set of the host column of a list table, header left out.
func tableHosts(stdout string) []string {
	var hosts []string
	for i, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if fields := strings.Fields(line); i > 0 && len(fields) > 0 && !slices.Contains(hosts, fields[0]) {
			hosts = append(hosts, fields[0])
		}
	}
	return hosts
}

// jsonHosts is the set of the host field of list --json's rows.
func jsonHosts(t *testing.T, stdout string) []string {
	t.Helper()
	var vms []model.VM
	if err := json.Unmarshal([]byte(stdout), &vms); err != nil {
		t.Fatalf("stdout is not the rows: %v\n%s", err, stdout)
	}
	var hosts []string
	for _, v := range vms {
		if !slices.Contains(hosts, v.Host) {
			hosts = append(hosts, v.Host)
		}
	}
	return hosts
}

// errorRecords decodes the error objects of stderr under --json, one after the other.
func errorRecords(t *testing.T, stderr string) []model.ErrorDetail {
	t.Helper()
	var out []model.ErrorDetail
	dec := json.NewDecoder(strings.NewReader(stderr))
	for {
		var body model.ErrorBody
		if err := dec.Decode(&body); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("stderr is not error objects: %v\n%s", err, stderr)
		}
		out = append(out, body.Error)
	}
}

// lines splits stderr into its lines, the hint lines left out.
func lines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.HasPrefix(l, "hint: ") {
			out = append(out, l)
		}
	}
	return out
}

// failingHost is one way a host can fail to answer, and what its one line and record say.
type failingHost struct {
	name     string
	uri      func(*testing.T) string
	args     []string // the flags that make it fail
	says     string   // in its line: the timeout or the refusal
	kind     errs.Kind
	exitCode int
}

func failingHosts() []failingHost {
	return []failingHost{
		{name: "slow", uri: silentHost, args: []string{"--host-timeout", "300ms"}, says: "did not answer within 300ms", kind: errs.Timeout, exitCode: 5},
		{name: "gone", uri: refusedHost, says: "Connection refused", kind: errs.Unreachable, exitCode: 7},
	}
}

func TestFailingHostIsOneLineAndTheOthersAnswer(t *testing.T) {
	for _, fh := range failingHosts() {
		t.Run(fh.name, func(t *testing.T) {
			hosts := answeringHosts(t)
			hosts[fh.name] = fh.uri(t)
			args := append([]string{"list", "--host", "a," + fh.name + ",b"}, fh.args...)

			stdout, stderr, code := vmctlOnHosts(t, hosts, args...)
			if code != 6 {
				t.Fatalf("exit %d, want 6 (partial)\nstdout %s\nstderr %s", code, stdout, stderr)
			}
			if got := tableHosts(stdout); !slices.Equal(got, []string{"a", "b"}) {
				t.Errorf("the table has rows of %v, want a and b:\n%s", got, stdout)
			}
			got := lines(stderr)
			if len(got) != 2 || !strings.HasPrefix(got[0], "vmctl: host "+fh.name+": ") || !strings.Contains(got[0], fh.says) ||
				got[1] != "vmctl: 1 of 3 hosts did not answer: "+fh.name {
				t.Errorf("stderr: want one line naming %s and saying %q, then the summary:\n%s", fh.name, fh.says, stderr)
			}

			stdout, stderr, code = vmctlOnHosts(t, hosts, append(args, "--json")...)
			if code != 6 || !slices.Equal(jsonHosts(t, stdout), []string{"a", "b"}) {
				t.Errorf("--json: exit %d, rows %s", code, stdout)
			}
			recs := errorRecords(t, stderr)
			if len(recs) != 2 || recs[0].Host != fh.name || recs[0].Code != fh.kind.String() || recs[0].ExitCode != fh.exitCode ||
				!strings.Contains(recs[0].Message, fh.says) || recs[1].Code != "partial" || recs[1].ExitCode != 6 {
				t.Errorf("--json: want the host's record (host %s, %s) then the command's (partial):\n%s", fh.name, fh.kind, stderr)
			}
		})
	}
}

func TestStrictFailsWithTheHostsCodeAndNoTable(t *testing.T) {
	for _, fh := range failingHosts() {
		t.Run(fh.name, func(t *testing.T) {
			hosts := answeringHosts(t)
			hosts[fh.name] = fh.uri(t)
			args := append([]string{"list", "--host", "a," + fh.name + ",b", "--strict"}, fh.args...)

			stdout, stderr, code := vmctlOnHosts(t, hosts, args...)
			if code != fh.exitCode || stdout != "" {
				t.Errorf("exit %d, want %d (%s) and no table\nstdout %s", code, fh.exitCode, fh.kind, stdout)
			}
			if got := lines(stderr); len(got) != 1 || !strings.HasPrefix(got[0], "vmctl: host "+fh.name+": ") || !strings.Contains(got[0], fh.says) {
				t.Errorf("stderr: want one line naming %s and saying %q:\n%s", fh.name, fh.says, stderr)
			}

			stdout, stderr, code = vmctlOnHosts(t, hosts, append(args, "--json")...)
			recs := errorRecords(t, stderr)
			// The host's own record carries its name, as without --strict; the command's follows.
			if code != fh.exitCode || stdout != "" || len(recs) != 2 || recs[0].Host != fh.name || recs[0].Code != fh.kind.String() ||
				recs[1].ExitCode != fh.exitCode || !strings.Contains(recs[1].Message, "host "+fh.name+": ") {
				t.Errorf("--json: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
			}
		})
	}
}

// When no host answers (or several fail under --strict), each is one line in host order and the
// error names them all, with the first one's exit code: the first host's error as the command's
// would come last, after the others'.
func TestSeveralFailingHostsAreReportedInHostOrder(t *testing.T) {
	hosts := answeringHosts(t)
	hosts["gone"] = refusedHost(t)
	hosts["slow"] = silentHost(t)
	for _, tc := range []struct {
		args []string
		last string
	}{
		{[]string{"list", "--host", "slow,gone"}, "vmctl: no host answered: slow, gone"},
		{[]string{"list", "--host", "slow,a,gone", "--strict"}, "vmctl: 2 of 3 hosts did not answer (--strict): slow, gone"},
	} {
		stdout, stderr, code := vmctlOnHosts(t, hosts, append(tc.args, "--host-timeout", "300ms")...)
		got := lines(stderr)
		if code != 5 || stdout != "" || len(got) != 3 || !strings.HasPrefix(got[0], "vmctl: host slow: ") ||
			!strings.HasPrefix(got[1], "vmctl: host gone: ") || got[2] != tc.last {
			t.Errorf("%v: exit %d (want 5, slow's), stdout %q, stderr:\n%s", tc.args, code, stdout, stderr)
		}
	}
}

// One host at a time, in the order given, every host is still asked and each waits out only its
// own deadline: a and b answer though queued behind hosts that never do.
func TestHostParallelOneFinishesEveryHost(t *testing.T) {
	hosts := answeringHosts(t)
	hosts["slow1"], hosts["slow2"], hosts["gone"] = silentHost(t), silentHost(t), refusedHost(t)
	stdout, stderr, code := vmctlOnHosts(t, hosts, "list", "--host", "slow1,a,gone,slow2,b",
		"--host-parallel", "1", "--host-timeout", "300ms", "--json")
	if code != 6 || !slices.Equal(jsonHosts(t, stdout), []string{"a", "b"}) {
		t.Errorf("exit %d, rows %s", code, stdout)
	}
	var failed []string
	for _, r := range errorRecords(t, stderr) {
		failed = append(failed, r.Host)
	}
	if !slices.Equal(failed, []string{"slow1", "gone", "slow2", ""}) {
		t.Errorf("error records of hosts %q, want slow1, gone, slow2 then the command's:\n%s", failed, stderr)
	}
}

// A --timeout that passes while a host is still out ends the fan-out as a host's own deadline
// would: what the others answered is shown, the host is reported naming --timeout, exit 6.
func TestCommandTimeoutKeepsTheAnswersGiven(t *testing.T) {
	hosts := answeringHosts(t)
	hosts["slow"] = silentHost(t)
	stdout, stderr, code := vmctlOnHosts(t, hosts, "list", "--host", "a,slow,b", "--timeout", "500ms")
	if code != 6 || !slices.Equal(tableHosts(stdout), []string{"a", "b"}) {
		t.Errorf("exit %d, want 6 and the rows of a and b\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if got := lines(stderr); len(got) != 2 || got[0] != "vmctl: host slow: no answer before the command's deadline (--timeout)" {
		t.Errorf("stderr:\n%s", stderr)
	}
}

// With --host the command has no default deadline of its own: the default, as long as one
// host's, would pass just before a hung host's own and take the others' answers with it, and
// would cut off the hosts --host-parallel queues. --timeout given still bounds it.
func TestHostFlagDropsTheDefaultCommandDeadline(t *testing.T) {
	f, _, _ := cmdutiltest.NewFactory(t, nil)
	var hf cmdutil.HostFlags
	cmd := &cobra.Command{Use: "x"}
	cmdutil.AddHostFlags(f, cmd, &hf)
	if d, ok := f.EffectiveTimeout(cmd); !ok || d != cmdutil.DefaultTimeout {
		t.Errorf("without --host: %v %v, want the default %v", d, ok, cmdutil.DefaultTimeout)
	}
	if err := cmd.Flags().Parse([]string{"--host", "a"}); err != nil {
		t.Fatal(err)
	}
	if d, ok := f.EffectiveTimeout(cmd); ok {
		t.Errorf("with --host: a command deadline of %v", d)
	}
	if err := f.Global.Flags.Parse([]string{"--timeout", "5s"}); err != nil {
		t.Fatal(err)
	}
	if d, ok := f.EffectiveTimeout(cmd); !ok || d != 5*time.Second {
		t.Errorf("with --host and --timeout 5s: %v %v", d, ok)
	}
	if h := cmdutil.TimeoutDefault(cmd); !strings.Contains(h, "--host-timeout") {
		t.Errorf("--timeout's help does not say what --host does to it: %q", h)
	}
}

// The same at FanOut's level, for any caller whose context has a deadline (not only the root's):
// hosts still out when it passes are failures, the answers are kept.
func TestFanOutKeepsAnswersWhenTheContextDeadlinePasses(t *testing.T) {
	hosts := []cmdutil.Host{{Name: "slow", URI: silentHost(t)}, {Name: "a", URI: "test:///default"}}
	f, _, stderr := cmdutiltest.NewFactory(t, nil)
	hf := &cmdutil.HostFlags{Hosts: []string{"slow", "a"}, Parallel: 8, Timeout: time.Minute}
	ctx, cancel := virt.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	got, err := cmdutil.FanOut(ctx, f, nil, hf, hosts, true,
		func(_ context.Context, h cmdutil.Host, _ *virt.Conn) ([]string, error) { return []string{h.Name}, nil })
	if errs.KindOf(err) != errs.Partial || !slices.Equal(got, []string{"a"}) {
		t.Errorf("FanOut: %v %v, want a's answer and partial", got, err)
	}
	if !strings.Contains(stderr.String(), "host slow: no answer before the command's deadline (--timeout)") {
		t.Errorf("stderr: %s", stderr)
	}
}

// A host that does not answer within the deadline ConnectHosts was given is named with advice
// the command can take: --host-timeout only where the command has that flag (evacuate gives its
// target hosts a deadline of its own).
func TestConnectHostsHintNamesOnlyFlagsTheCommandHas(t *testing.T) {
	hosts := []cmdutil.Host{{Name: "slow", URI: silentHost(t)}}
	hf := &cmdutil.HostFlags{Parallel: 1, Timeout: 300 * time.Millisecond}
	look := func(context.Context, cmdutil.Host, *virt.Conn) (int, error) { return 0, nil }

	f, _, _ := cmdutiltest.NewFactory(t, nil)
	_, err := cmdutil.ConnectHosts(context.Background(), f, &cobra.Command{Use: "evacuate"}, hf, hosts, true, look)
	if errs.KindOf(err) != errs.Timeout || strings.Contains(errs.HintOf(err)+err.Error(), "--host-timeout") {
		t.Errorf("without --host-timeout: %v (hint %q)", err, errs.HintOf(err))
	}

	withFlag := &cobra.Command{Use: "list"}
	cmdutil.AddHostFlags(f, withFlag, &cmdutil.HostFlags{})
	_, err = cmdutil.ConnectHosts(context.Background(), f, withFlag, hf, hosts, true, look)
	if errs.KindOf(err) != errs.Timeout || !strings.Contains(errs.HintOf(err), "raise --host-timeout") {
		t.Errorf("with --host-timeout: %v (hint %q)", err, errs.HintOf(err))
	}
}
