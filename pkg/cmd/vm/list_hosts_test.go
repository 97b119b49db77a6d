package vm

import (
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
)

// hostsConfig writes a configuration with three hosts: h1 (the test driver's default host, which
// has the VM "test"), h2 (a test driver host of its own with db01 and web01) and down (a loopback
// port nothing listens on), and the group pair = h1, h2.
func hostsConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	node := `<node>
<domain type='test'><name>web01</name><memory>65536</memory><os><type>hvm</type></os></domain>
<domain type='test'><name>db01</name><memory>131072</memory><os><type>hvm</type></os></domain>
</node>`
	h2 := filepath.Join(dir, "h2.xml")
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(h2, []byte(node), 0o644); err != nil {
		t.Fatal(err)
	}
	toml := `[hosts.h1]
uri = "test:///default"
[hosts.h2]
uri = "test://` + h2 + `"
[hosts.down]
uri = "qemu+tcp://127.0.0.1:1/system"
[groups]
pair = ["h1", "h2"]
`
	if err := os.WriteFile(cfg, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func runListCmd(t *testing.T, cfg string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	f, out, errOut := cmdutiltest.NewFactory(t, nil)
	f.Global.ConfigFile = cfg
	cmd := NewCmdList(f, nil)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func hostNames(t *testing.T, stdout string) []string {
	t.Helper()
	var vms []model.VM
	if err := json.Unmarshal([]byte(stdout), &vms); err != nil {
		t.Fatalf("%v in %q", err, stdout)
	}
	var got []string
	for _, v := range vms {
		got = append(got, v.Host+":"+v.Name)
	}
	return got
}

func TestListHostsOrdersByHostThenName(t *testing.T) {
	cfg := hostsConfig(t)
	stdout, stderr, err := runListCmd(t, cfg, "--host", "pair", "--json")
	if err != nil {
		t.Fatalf("%v (stderr %q)", err, stderr)
	}
	if got := strings.Join(hostNames(t, stdout), " "); got != "h1:test h2:db01 h2:web01" {
		t.Errorf("rows: %s", got)
	}
	// A host given twice (by name and through its group) is asked once.
	stdout, _, err = runListCmd(t, cfg, "--host", "h2,pair", "--json")
	if err != nil || strings.Join(hostNames(t, stdout), " ") != "h1:test h2:db01 h2:web01" {
		t.Errorf("h2,pair: %v %s", err, stdout)
	}
	stdout, _, err = runListCmd(t, cfg, "--host", "pair")
	if err != nil || !strings.HasPrefix(strings.ToLower(strings.TrimSpace(stdout)), "host") {
		t.Errorf("the table does not lead with the host: %v\n%s", err, stdout)
	}
}

func TestListHostsQualifiedPatterns(t *testing.T) {
	cfg := hostsConfig(t)
	stdout, _, err := runListCmd(t, cfg, "--host", "pair", "--json", "h2:*b*", "test")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(hostNames(t, stdout), " "); got != "h1:test h2:db01 h2:web01" {
		t.Errorf("rows: %s", got)
	}
	stdout, _, err = runListCmd(t, cfg, "--host", "pair", "--json", "h2:web*")
	if err != nil || strings.Join(hostNames(t, stdout), " ") != "h2:web01" {
		t.Errorf("h2:web*: %v %s", err, stdout)
	}
	// A literal qualified name is found on its own host.
	stdout, _, err = runListCmd(t, cfg, "--host", "pair", "--json", "h2:web01")
	if err != nil || strings.Join(hostNames(t, stdout), " ") != "h2:web01" {
		t.Errorf("h2:web01: %v %s", err, stdout)
	}
	_, _, err = runListCmd(t, cfg, "--host", "pair", "h1:db01")
	if errs.KindOf(err) != errs.NotFound || !strings.Contains(err.Error(), "h1:db01") {
		t.Errorf("db01 is on h2 only, asked on h1: %v", err)
	}
}

func TestListHostsUnreachableHostIsPartial(t *testing.T) {
	cfg := hostsConfig(t)
	stdout, stderr, err := runListCmd(t, cfg, "--host", "all", "--json")
	if errs.KindOf(err) != errs.Partial {
		t.Fatalf("err = %v (%v), want partial", err, errs.KindOf(err))
	}
	if got := strings.Join(hostNames(t, stdout), " "); got != "h1:test h2:db01 h2:web01" {
		t.Errorf("the hosts that answered: %s", got)
	}
	var body model.ErrorBody
	if err := json.Unmarshal([]byte(stderr), &body); err != nil || body.Error.Host != "down" || body.Error.ExitCode != errs.Unreachable.ExitCode() {
		t.Errorf("stderr %q: %+v %v", stderr, body, err)
	}

	_, stderr, err = runListCmd(t, cfg, "--host", "all")
	if !strings.Contains(stderr, "host down: ") || errs.KindOf(err) != errs.Partial {
		t.Errorf("table mode: %v, stderr %q", err, stderr)
	}

	stdout, _, err = runListCmd(t, cfg, "--host", "all", "--strict", "--json")
	if errs.KindOf(err) != errs.Unreachable || stdout != "" || !strings.Contains(err.Error(), "host down") {
		t.Errorf("--strict: %v, stdout %q", err, stdout)
	}
}

func TestListHostsRefusesBadSelections(t *testing.T) {
	cfg := hostsConfig(t)
	for _, args := range [][]string{
		{"--host", "nope"},
		{"--host", "h1,"},
		{"--host", "h1", "--host-parallel", "0"},
		{"--host", "h1", "--host-timeout", "0s"},
	} {
		_, _, err := runListCmd(t, cfg, args...)
		if errs.KindOf(err) != errs.Usage {
			t.Errorf("%v: %v, want usage", args, err)
		}
	}
	f, _, _ := cmdutiltest.NewFactory(t, nil)
	f.Global.ConfigFile = cfg
	_ = f.Global.Flags.Set("connect", "test:///default")
	_, err := f.ResolveHosts(&cmdutil.HostFlags{Hosts: []string{"h1"}, Parallel: 1, Timeout: 1})
	if errs.KindOf(err) != errs.Usage {
		t.Errorf("-c with --host: %v", err)
	}
}
