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
	"github.com/spf13/cobra"
)

// runHostsCmd runs the command build makes with the configuration cfg.
func runHostsCmd(t *testing.T, cfg string, build func(*cmdutil.Factory) *cobra.Command, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	f, out, errOut := cmdutiltest.NewFactory(t, nil)
	f.Global.ConfigFile = cfg
	cmd := build(f)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func showCmd(f *cmdutil.Factory) *cobra.Command { return NewCmdShow(f, nil) }
func ipCmd(f *cmdutil.Factory) *cobra.Command   { return NewCmdIP(f, nil) }

// twinConfig is hostsConfig plus h3, another test driver host that also has a web01, and off01
// (shut off).
func twinConfig(t *testing.T) string {
	t.Helper()
	cfg := hostsConfig(t)
	h3 := filepath.Join(filepath.Dir(cfg), "h3.xml")
	node := `<node><domain type='test'><name>web01</name><memory>65536</memory><os><type>hvm</type></os></domain>
<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'><name>off01</name><memory>65536</memory><os><type>hvm</type></os>
<test:runstate>5</test:runstate></domain></node>`
	if err := os.WriteFile(h3, []byte(node), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	extra := "[hosts.h3]\nuri = \"test://" + h3 + "\"\n"
	toml := strings.Replace(string(b), "[groups]", extra+"[groups]", 1)
	if err := os.WriteFile(cfg, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func showHost(t *testing.T, stdout string) string {
	t.Helper()
	var v model.VMDetail
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatalf("%v in %q", err, stdout)
	}
	return v.Host + ":" + v.Name
}

func TestShowHostsFindsTheVMsHost(t *testing.T) {
	cfg := twinConfig(t)
	stdout, stderr, err := runHostsCmd(t, cfg, showCmd, "--host", "pair", "--json", "web01")
	if err != nil || showHost(t, stdout) != "h2:web01" || stderr != "" {
		t.Fatalf("web01 is on h2 alone of the pair: %v %q %q", err, stdout, stderr)
	}
	stdout, _, err = runHostsCmd(t, cfg, showCmd, "--host", "pair", "web01")
	if err != nil || !strings.HasPrefix(stdout, "Host:") || !strings.Contains(strings.SplitN(stdout, "\n", 2)[0], "h2") {
		t.Errorf("the table does not lead with the host: %v\n%s", err, stdout)
	}
	// -o name is host:name, as list --host prints it and as the VM is named back to hvctl.
	stdout, _, err = runHostsCmd(t, cfg, showCmd, "--host", "pair", "-o", "name", "web01")
	if err != nil || stdout != "h2:web01\n" {
		t.Errorf("-o name: %v %q", err, stdout)
	}
	stdout, _, err = runHostsCmd(t, cfg, func(f *cmdutil.Factory) *cobra.Command { return NewCmdList(f, nil) }, "--host", "pair", "-o", "name", "web01")
	if err != nil || stdout != "h2:web01\n" {
		t.Errorf("list -o name, which show's must match: %v %q", err, stdout)
	}

	// On two hosts: the name must be qualified, and qualified it is that host's.
	_, _, err = runHostsCmd(t, cfg, showCmd, "--host", "h2,h3", "web01")
	if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "h2, h3") || !strings.Contains(errs.HintOf(err), "h2:web01") {
		t.Errorf("web01 on h2 and h3: %v (hint %q)", err, errs.HintOf(err))
	}
	stdout, _, err = runHostsCmd(t, cfg, showCmd, "--host", "h2,h3", "--json", "h3:web01")
	if err != nil || showHost(t, stdout) != "h3:web01" {
		t.Errorf("h3:web01: %v %s", err, stdout)
	}

	_, _, err = runHostsCmd(t, cfg, showCmd, "--host", "pair", "h1:web01")
	if errs.KindOf(err) != errs.NotFound {
		t.Errorf("web01 is not on h1: %v", err)
	}
	_, _, err = runHostsCmd(t, cfg, showCmd, "--host", "pair", "nope")
	if errs.KindOf(err) != errs.NotFound || !strings.Contains(err.Error(), "hosts h1, h2") {
		t.Errorf("nope: %v", err)
	}
}

func TestShowHostsUnreachableHost(t *testing.T) {
	cfg := hostsConfig(t)
	// Found on h2 while down did not answer: shown, the host reported, exit 6.
	stdout, stderr, err := runHostsCmd(t, cfg, showCmd, "--host", "all", "--json", "web01")
	if errs.KindOf(err) != errs.Partial || showHost(t, stdout) != "h2:web01" {
		t.Fatalf("%v (%v) %q", err, errs.KindOf(err), stdout)
	}
	var body model.ErrorBody
	if err := json.Unmarshal([]byte(stderr), &body); err != nil || body.Error.Host != "down" {
		t.Errorf("stderr %q: %+v %v", stderr, body, err)
	}
	// Found nowhere that answered: down may have it, so partial rather than not found.
	_, _, err = runHostsCmd(t, cfg, showCmd, "--host", "all", "nope")
	if errs.KindOf(err) != errs.Partial || !strings.Contains(err.Error(), "none of the hosts that answered") {
		t.Errorf("nope: %v (%v)", err, errs.KindOf(err))
	}
	stdout, _, err = runHostsCmd(t, cfg, showCmd, "--host", "all", "--strict", "web01")
	if errs.KindOf(err) != errs.Unreachable || stdout != "" || !strings.Contains(err.Error(), "host down") {
		t.Errorf("--strict: %v, stdout %q", err, stdout)
	}
}

func TestIPHosts(t *testing.T) {
	cfg := hostsConfig(t)
	stdout, stderr, err := runHostsCmd(t, cfg, ipCmd, "--host", "all", "--json", "test")
	if errs.KindOf(err) != errs.Partial || !strings.Contains(stderr, `"host":"down"`) {
		t.Fatalf("%v (%v), stderr %q", err, errs.KindOf(err), stderr)
	}
	var addrs []model.Address
	if err := json.Unmarshal([]byte(stdout), &addrs); err != nil || len(addrs) == 0 {
		t.Fatalf("%v %q", err, stdout)
	}
	for _, a := range addrs {
		if a.Host != "h1" || a.Address == "" {
			t.Errorf("address %+v", a)
		}
	}
	stdout, _, err = runHostsCmd(t, cfg, ipCmd, "--host", "pair", "h1:test")
	if err != nil || !strings.HasPrefix(strings.ToLower(stdout), "host") || !strings.Contains(stdout, "h1 ") {
		t.Errorf("table: %v\n%s", err, stdout)
	}
	// The VM's own trouble is the error, with its host named: not a host that did not answer.
	_, _, err = runHostsCmd(t, twinConfig(t), ipCmd, "--host", "h2,h3", "off01")
	if errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "host h3: ") || !strings.Contains(err.Error(), "not running") {
		t.Errorf("off01: %v (%v)", err, errs.KindOf(err))
	}
	_, stderr, err = runHostsCmd(t, cfg, ipCmd, "--host", "pair", "nope")
	if errs.KindOf(err) != errs.NotFound || stderr != "" {
		t.Errorf("nope: %v %q", err, stderr)
	}
}
