package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/spf13/cobra"
)

// bulkHostsConfig writes a configuration of two test-driver hosts, each a node file of its own
// (every connection to one starts from the file, so a command sees only its own changes):
// h1 has web01 (running) and old01 (shut off), h2 has web01 and db01 (running); down is a
// loopback port nothing listens on. Groups: pair = h1, h2.
func bulkHostsConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	dom := func(name string, extra string) string {
		return `<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'><name>` + name +
			`</name><memory>65536</memory><os><type>hvm</type></os>` + extra + `</domain>`
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	h1 := write("h1.xml", "<node>"+dom("web01", "")+dom("old01", "<test:runstate>5</test:runstate>")+"</node>")
	h2 := write("h2.xml", "<node>"+dom("web01", "")+dom("db01", "")+"</node>")
	return write("config.toml", `[hosts.h1]
uri = "test://`+h1+`"
[hosts.h2]
uri = "test://`+h2+`"
[hosts.down]
uri = "qemu+tcp://127.0.0.1:1/system"
[groups]
pair = ["h1", "h2"]
`)
}

// runBulkCmd runs a bulk verb built by build with the configuration cfg.
func runBulkCmd(t *testing.T, cfg string, tty bool, stdin string, build func(*cmdutil.Factory) *cobra.Command, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runBulkCmdContext(context.Background(), t, cfg, tty, stdin, build, args...)
}

func runBulkCmdContext(ctx context.Context, t *testing.T, cfg string, tty bool, stdin string, build func(*cmdutil.Factory) *cobra.Command, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	f, out, errOut := cmdutiltest.NewFactory(t, nil)
	f.Global.ConfigFile = cfg
	f.IO.SetTTY(tty, false, tty)
	f.IO.In.(*bytes.Buffer).WriteString(stdin)
	cmd := build(f)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	err = cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func pauseCmd(f *cmdutil.Factory) *cobra.Command  { return NewCmdPause(f, nil) }
func resumeCmd(f *cmdutil.Factory) *cobra.Command { return NewCmdResume(f, nil) }
func stopCmd(f *cmdutil.Factory) *cobra.Command   { return NewCmdStop(f, nil) }

// hostResults decodes results and renders each as host:name=action|code.
func hostResults(t *testing.T, stdout string) string {
	t.Helper()
	var rs []model.Result
	if err := json.Unmarshal([]byte(stdout), &rs); err != nil {
		t.Fatalf("%v in %q", err, stdout)
	}
	var out []string
	for _, r := range rs {
		what := r.Action
		if !r.OK {
			what = r.Code
		}
		out = append(out, r.Host+":"+r.Name+"="+what)
	}
	return strings.Join(out, " ")
}

func TestBulkVerbOverHosts(t *testing.T) {
	cfg := bulkHostsConfig(t)
	// An unqualified name applies on every host that has it; host:glob on its host only.
	stdout, stderr, err := runBulkCmd(t, cfg, false, "", pauseCmd, "--host", "pair", "--json", "web01", "h2:d*")
	if err != nil {
		t.Fatalf("%v (stderr %q)", err, stderr)
	}
	if got := hostResults(t, stdout); got != "h1:web01=paused h2:db01=paused h2:web01=paused" {
		t.Errorf("results: %s", got)
	}
	// Without --host, targets that all name their host choose the hosts themselves.
	stdout, stderr, err = runBulkCmd(t, cfg, false, "", pauseCmd, "--json", "h2:web01")
	if err != nil || hostResults(t, stdout) != "h2:web01=paused" {
		t.Errorf("h2:web01 alone: %v %s %s", err, stdout, stderr)
	}
	// The table leads with the host; -o name prints host:name.
	stdout, _, err = runBulkCmd(t, cfg, false, "", pauseCmd, "--host", "pair", "web01")
	if err != nil || !strings.HasPrefix(stdout, "HOST") && !strings.HasPrefix(stdout, "host") {
		t.Errorf("table: %v\n%s", err, stdout)
	}
	stdout, _, err = runBulkCmd(t, cfg, false, "", pauseCmd, "--host", "pair", "-o", "name", "web01")
	if err != nil || stdout != "h1:web01\nh2:web01\n" {
		t.Errorf("-o name: %v %q", err, stdout)
	}
}

func TestBulkVerbOverHostsPartial(t *testing.T) {
	cfg := bulkHostsConfig(t)
	// old01 is shut off: resuming it fails while the rest succeed, and a glob or host:name that
	// matches nothing is a not-found result of its own.
	stdout, _, err := runBulkCmd(t, cfg, false, "", resumeCmd, "--host", "pair", "--json", "old01", "web01", "h1:db01", "nope-*")
	if errs.KindOf(err) != errs.Partial {
		t.Fatalf("err = %v, want partial", err)
	}
	if got := hostResults(t, stdout); got != "h1:old01=conflict h1:web01=none h2:web01=none :h1:db01=not_found :nope-*=not_found" {
		t.Errorf("results: %s", got)
	}

	// A host that does not answer is reported with its name; the others still act: exit 6.
	stdout, stderr, err := runBulkCmd(t, cfg, false, "", pauseCmd, "--host", "all", "--json", "web01")
	if errs.KindOf(err) != errs.Partial {
		t.Fatalf("err = %v, want partial", err)
	}
	if got := hostResults(t, stdout); got != "h1:web01=paused h2:web01=paused" {
		t.Errorf("the hosts that answered: %s", got)
	}
	var body model.ErrorBody
	if err := json.Unmarshal([]byte(stderr), &body); err != nil || body.Error.Host != "down" {
		t.Errorf("stderr %q: %+v %v", stderr, body, err)
	}
	// A VM that failed where its host answered, and a host that did not: partial, not the VM's
	// own conflict.
	stdout, _, err = runBulkCmd(t, cfg, false, "", resumeCmd, "--host", "all", "--json", "old01")
	if errs.KindOf(err) != errs.Partial || hostResults(t, stdout) != "h1:old01=conflict" {
		t.Errorf("old01 over all: %v %s", err, stdout)
	}
	// --strict acts on none.
	stdout, _, err = runBulkCmd(t, cfg, false, "", pauseCmd, "--host", "all", "--strict", "--json", "web01")
	if errs.KindOf(err) != errs.Unreachable || stdout != "" {
		t.Errorf("--strict: %v, stdout %q", err, stdout)
	}
	// The down host's own VM is not called missing: its host was reported.
	stdout, _, err = runBulkCmd(t, cfg, false, "", pauseCmd, "--host", "all", "--json", "down:web01", "h1:web01")
	if errs.KindOf(err) != errs.Partial || hostResults(t, stdout) != "h1:web01=paused" {
		t.Errorf("down:web01: %v %s", err, stdout)
	}
}

func TestBulkVerbOverHostsRefusesBadTargets(t *testing.T) {
	cfg := bulkHostsConfig(t)
	for _, args := range [][]string{
		{"--host", "h1", "h2:web01"}, // a host --host does not select
		{"h2:web01", "web01"},        // qualified and not, without --host
		{"--host", "nope", "web01"},
	} {
		_, _, err := runBulkCmd(t, cfg, false, "", pauseCmd, args...)
		if errs.KindOf(err) != errs.Usage {
			t.Errorf("%v: %v, want usage", args, err)
		}
	}
}

// stop --all over hosts asks first on a terminal, listing every target as host:name.
func TestBulkVerbOverHostsConfirmsWithHosts(t *testing.T) {
	cfg := bulkHostsConfig(t)
	stdout, stderr, err := runBulkCmd(t, cfg, true, "n\n", stopCmd, "--host", "pair", "--all", "--json")
	if errs.KindOf(err) != errs.Usage || stdout != "" {
		t.Fatalf("answered no: %v, stdout %q", err, stdout)
	}
	for _, want := range []string{"h1:old01", "h1:web01", "h2:db01", "h2:web01"} {
		if !strings.Contains(stderr, "  "+want+"\n") {
			t.Errorf("the question does not list %s:\n%s", want, stderr)
		}
	}
	// Without a terminal it needs --yes, and says what it would have stopped.
	_, _, err = runBulkCmd(t, cfg, false, "", stopCmd, "--host", "pair", "--all")
	if errs.KindOf(err) != errs.Usage || !strings.Contains(errs.HintOf(err), "h1:old01") {
		t.Errorf("no terminal: %v (hint %q)", err, errs.HintOf(err))
	}
}
