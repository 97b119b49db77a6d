package netcmd

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

// hostsConfig writes a configuration with three hosts: h1 (the test driver's default host, with
// the network "default"), h2 (a test driver host of its own with the networks bench and lab) and
// down (a loopback port nothing listens on), and the group pair = h2, h1.
func hostsConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	node := `<node>
<network><name>bench</name><bridge name="hvbr-bench"/><ip address='10.9.1.1' netmask='255.255.255.0'/></network>
<network><name>lab</name><bridge name='hvbr-lab'/><ip address='10.9.0.1' netmask='255.255.255.0'>
<dhcp><range start='10.9.0.2' end='10.9.0.254'/></dhcp></ip></network>
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
pair = ["h2", "h1"]
`
	if err := os.WriteFile(cfg, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runHosts runs one netctl verb in-process with the configuration cfg.
func runHosts(t *testing.T, cfg string, build func(f *cmdutil.Factory) *cobra.Command, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	f, out, errOut := cmdutiltest.NewFactory(t, nil)
	f.Prog = "netctl"
	f.Global.ConfigFile = cfg
	cmd := build(f)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func listCmd(f *cmdutil.Factory) *cobra.Command   { return NewCmdList(f, nil) }
func leasesCmd(f *cmdutil.Factory) *cobra.Command { return NewCmdLeases(f, nil) }

// hostRows decodes a JSON list and names each row host:name.
func hostRows(t *testing.T, stdout string) []string {
	t.Helper()
	var nets []model.Network
	if err := json.Unmarshal([]byte(stdout), &nets); err != nil {
		t.Fatalf("%v in %q", err, stdout)
	}
	var got []string
	for _, n := range nets {
		got = append(got, n.Host+":"+n.Name)
	}
	return got
}

func TestListHostsOrdersByHostThenName(t *testing.T) {
	cfg := hostsConfig(t)
	stdout, stderr, err := runHosts(t, cfg, listCmd, "--host", "pair", "--json")
	if err != nil {
		t.Fatalf("%v (stderr %q)", err, stderr)
	}
	if got := strings.Join(hostRows(t, stdout), " "); got != "h1:default h2:bench h2:lab" {
		t.Errorf("rows: %s", got)
	}
	stdout, _, err = runHosts(t, cfg, listCmd, "--host", "pair")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if err != nil || len(lines) != 4 || !strings.HasPrefix(lines[0], "HOST ") || !strings.HasPrefix(lines[3], "h2 ") || !strings.Contains(lines[3], "10.9.0.1/24") {
		t.Errorf("table: %v\n%s", err, stdout)
	}
	stdout, _, err = runHosts(t, cfg, listCmd, "--host", "pair", "-o", "name")
	if err != nil || stdout != "h1:default\nh2:bench\nh2:lab\n" {
		t.Errorf("-o name: %v %q", err, stdout)
	}
}

func TestListHostsPatterns(t *testing.T) {
	cfg := hostsConfig(t)
	stdout, _, err := runHosts(t, cfg, listCmd, "--host", "pair", "--json", "h2:l*", "default")
	if err != nil || strings.Join(hostRows(t, stdout), " ") != "h1:default h2:lab" {
		t.Errorf("h2:l* default: %v %s", err, stdout)
	}
	// Patterns for h2 only ask h1 for nothing (not for everything).
	stdout, _, err = runHosts(t, cfg, listCmd, "--host", "pair", "--json", "h2:l*")
	if err != nil || strings.Join(hostRows(t, stdout), " ") != "h2:lab" {
		t.Errorf("h2:l*: %v %s", err, stdout)
	}
	// lab is on h2 only: asked for on h1 it is missing, though h2 has one.
	_, _, err = runHosts(t, cfg, listCmd, "--host", "pair", "h1:lab")
	if errs.KindOf(err) != errs.NotFound || !strings.Contains(err.Error(), "network h1:lab not found") {
		t.Errorf("h1:lab: %v", err)
	}
	stdout, _, err = runHosts(t, cfg, listCmd, "--host", "pair", "--json", "nope-*")
	if err != nil || stdout != "[]\n" {
		t.Errorf("a glob that matches nothing is an empty list: %v %q", err, stdout)
	}
}

func TestListHostsUnreachableHostIsPartial(t *testing.T) {
	cfg := hostsConfig(t)
	stdout, stderr, err := runHosts(t, cfg, listCmd, "--host", "all", "--json")
	if errs.KindOf(err) != errs.Partial {
		t.Fatalf("err = %v (%v), want partial", err, errs.KindOf(err))
	}
	if got := strings.Join(hostRows(t, stdout), " "); got != "h1:default h2:bench h2:lab" {
		t.Errorf("the hosts that answered: %s", got)
	}
	var body model.ErrorBody
	if err := json.Unmarshal([]byte(stderr), &body); err != nil || body.Error.Host != "down" || body.Error.ExitCode != errs.Unreachable.ExitCode() {
		t.Errorf("stderr %q: %+v %v", stderr, body, err)
	}
	// A name only the missing host could have: the partial answer is the error, not "not found".
	_, stderr, err = runHosts(t, cfg, listCmd, "--host", "all", "nope")
	if errs.KindOf(err) != errs.Partial || !strings.Contains(stderr, "netctl: host down: ") {
		t.Errorf("table mode: %v, stderr %q", err, stderr)
	}
	stdout, _, err = runHosts(t, cfg, listCmd, "--host", "all", "--strict", "--json")
	if errs.KindOf(err) != errs.Unreachable || stdout != "" || !strings.Contains(err.Error(), "host down") {
		t.Errorf("--strict: %v, stdout %q", err, stdout)
	}
}

func TestLeasesHosts(t *testing.T) {
	cfg := hostsConfig(t)
	// The test driver keeps no leases: every active network of both hosts answers with none.
	stdout, stderr, err := runHosts(t, cfg, leasesCmd, "--host", "pair", "--json")
	if err != nil || stdout != "[]\n" {
		t.Errorf("leases: %v %q (stderr %q)", err, stdout, stderr)
	}
	stdout, _, err = runHosts(t, cfg, leasesCmd, "--host", "pair")
	if err != nil || !strings.HasPrefix(stdout, "HOST ") {
		t.Errorf("the table does not lead with the host: %v\n%s", err, stdout)
	}
	// A network asked for must be on some host; qualified, on that host.
	for _, target := range []string{"nope", "lab-*", "h1:lab"} {
		_, _, err = runHosts(t, cfg, leasesCmd, "--host", "pair", target)
		if errs.KindOf(err) != errs.NotFound || !strings.Contains(err.Error(), "no network matches "+target+" on any host") {
			t.Errorf("%s: %v", target, err)
		}
	}
	stdout, stderr, err = runHosts(t, cfg, leasesCmd, "--host", "all", "--json")
	var body model.ErrorBody
	if errs.KindOf(err) != errs.Partial || stdout != "[]\n" || json.Unmarshal([]byte(stderr), &body) != nil || body.Error.Host != "down" {
		t.Errorf("unreachable host: %v %q %q", err, stdout, stderr)
	}
	// A network only the missing host could have: the partial answer is the error.
	_, _, err = runHosts(t, cfg, leasesCmd, "--host", "all", "nope")
	if errs.KindOf(err) != errs.Partial {
		t.Errorf("nope with a host down: %v", err)
	}
	_, _, err = runHosts(t, cfg, leasesCmd, "--host", "all", "--strict")
	if errs.KindOf(err) != errs.Unreachable {
		t.Errorf("--strict: %v", err)
	}
}

// A network named on a host whose driver has no DHCP leases (the test driver): the host answered
// and says so, exit 2, and it is not counted among the hosts that did not answer.
func TestLeasesHostsDriverWithoutLeases(t *testing.T) {
	cfg := hostsConfig(t)
	_, stderr, err := runHosts(t, cfg, leasesCmd, "--host", "pair", "lab")
	if errs.KindOf(err) != errs.Usage || !strings.HasPrefix(err.Error(), "host h2: network lab on test://") ||
		!strings.HasSuffix(err.Error(), ": the test driver does not report DHCP leases") || stderr != "" {
		t.Errorf("one host: %v (stderr %q)", err, stderr)
	}
	_, stderr, err = runHosts(t, cfg, leasesCmd, "--host", "pair", "lab", "default")
	if errs.KindOf(err) != errs.Usage || err.Error() != "2 of 2 hosts do not report DHCP leases: h1, h2" ||
		!strings.Contains(stderr, "netctl: host h1: network default on test:///default: the test driver does not report DHCP leases\n") ||
		!strings.Contains(stderr, "netctl: host h2: network lab on test://") || strings.Contains(stderr, "did not answer") {
		t.Errorf("two hosts: %v (stderr %q)", err, stderr)
	}
	// With a host down, that one is the partial answer; the one without leases is not in it.
	_, stderr, err = runHosts(t, cfg, leasesCmd, "--host", "all", "default")
	if errs.KindOf(err) != errs.Partial || err.Error() != "1 of 3 hosts did not answer: down" ||
		!strings.Contains(stderr, "netctl: host h1: network default on test:///default: the test driver does not report DHCP leases\n") {
		t.Errorf("a host down: %v (stderr %q)", err, stderr)
	}
}
