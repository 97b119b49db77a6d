package isocmd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	isopkg "github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/hyper-nixos/hvctl/pkg/model"
)

// hostsSetup stores media.iso in a store of its own and writes a configuration with three
// hosts: h1 (the test driver's default host), h2 (a test driver host of its own whose VM
// web01 has media.iso in its CD drive) and down (a loopback port nothing listens on), and
// the group pair = h2, h1. test:/// hosts are on this machine: their stores are read as files.
func hostsSetup(t *testing.T) (cfg, store string) {
	t.Helper()
	dir, store := t.TempDir(), t.TempDir()
	src := filepath.Join(t.TempDir(), "media.iso")
	if err := os.WriteFile(src, []byte("medium"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := isopkg.ImportFile(context.Background(), src, store, "", nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	node := `<node><domain type='test'><name>web01</name><memory>65536</memory><os><type>hvm</type></os><devices>
<disk type='file' device='cdrom'><source file='` + filepath.Join(store, "media.iso") + `'/><target dev='sda' bus='sata'/><readonly/></disk>
</devices></domain></node>`
	h2 := filepath.Join(dir, "h2.xml")
	cfg = filepath.Join(dir, "config.toml")
	if err := os.WriteFile(h2, []byte(node), 0o644); err != nil {
		t.Fatal(err)
	}
	toml := `[paths]
isos = "` + store + `"
images = "` + t.TempDir() + `"
[hosts.h1]
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
	return cfg, store
}

// runISO runs one isoctl command line in-process with the configuration cfg.
func runISO(t *testing.T, cfg string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	f, out, errOut := cmdutiltest.NewFactory(t, nil)
	f.Prog = "isoctl"
	f.Global.ConfigFile = cfg
	err = run(t, f, args...)
	return out.String(), errOut.String(), err
}

func TestListHosts(t *testing.T) {
	cfg, _ := hostsSetup(t)
	stdout, stderr, err := runISO(t, cfg, "list", "--host", "all", "--json")
	if errs.KindOf(err) != errs.Partial {
		t.Fatalf("err = %v (%v), want partial; stderr %q", err, errs.KindOf(err), stderr)
	}
	var images []model.Image
	if err := json.Unmarshal([]byte(stdout), &images); err != nil {
		t.Fatalf("%v in %q", err, stdout)
	}
	var got []string
	for _, im := range images {
		got = append(got, im.Host+":"+im.Name+" used by "+strings.Join(im.UsedBy, ","))
	}
	// Each host's USED-BY is its own VMs'.
	if strings.Join(got, "; ") != "h1:media.iso used by ; h2:media.iso used by web01" {
		t.Errorf("rows: %q", got)
	}
	var body model.ErrorBody
	if err := json.Unmarshal([]byte(stderr), &body); err != nil || body.Error.Host != "down" || body.Error.ExitCode != errs.Unreachable.ExitCode() {
		t.Errorf("stderr %q: %+v %v", stderr, body, err)
	}

	stdout, _, err = runISO(t, cfg, "list", "--host", "pair")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if err != nil || len(lines) != 3 || !strings.HasPrefix(lines[0], "HOST ") || !strings.HasPrefix(lines[2], "h2 ") || !strings.HasSuffix(lines[2], " web01") {
		t.Errorf("table: %v\n%s", err, stdout)
	}
	_, _, err = runISO(t, cfg, "list", "--host", "all", "--strict")
	if errs.KindOf(err) != errs.Unreachable {
		t.Errorf("--strict: %v", err)
	}
}

// verifyRows names each row host:name:ok|FAILED.
func verifyRows(t *testing.T, stdout string) string {
	t.Helper()
	var rows []model.ImageCheck
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatalf("%v in %q", err, stdout)
	}
	var got []string
	for _, r := range rows {
		res := "ok"
		if !r.OK {
			res = "FAILED"
		}
		got = append(got, r.Host+":"+r.Name+":"+res)
	}
	return strings.Join(got, " ")
}

func TestVerifyHosts(t *testing.T) {
	cfg, store := hostsSetup(t)
	stdout, stderr, err := runISO(t, cfg, "verify", "--all", "--host", "pair", "--json")
	if err != nil || verifyRows(t, stdout) != "h1:media.iso:ok h2:media.iso:ok" {
		t.Fatalf("--all: %v %s (stderr %q)", err, stdout, stderr)
	}
	stdout, _, err = runISO(t, cfg, "verify", "h2:media.iso", "--host", "pair", "--json")
	if err != nil || verifyRows(t, stdout) != "h2:media.iso:ok" {
		t.Errorf("h2:media.iso: %v %s", err, stdout)
	}
	// A name no host has is missing; a host that lacks a name another has is no failure.
	_, _, err = runISO(t, cfg, "verify", "nope.iso", "--host", "pair")
	if errs.KindOf(err) != errs.NotFound || !strings.Contains(err.Error(), "image nope.iso not found on any host") {
		t.Errorf("nope.iso: %v", err)
	}
	// With a host down, a name the others lack might be there: partial, not "not found".
	_, _, err = runISO(t, cfg, "verify", "nope.iso", "--host", "all")
	if errs.KindOf(err) != errs.Partial {
		t.Errorf("nope.iso with a host down: %v", err)
	}

	// A changed image is exit 8 on every host that has it, whether or not a host is down.
	if err := os.WriteFile(filepath.Join(store, "media.iso"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err = runISO(t, cfg, "verify", "--all", "--host", "all", "--json")
	if errs.KindOf(err) != errs.Verify || verifyRows(t, stdout) != "h1:media.iso:FAILED h2:media.iso:FAILED" {
		t.Errorf("tampered: %v %s", err, stdout)
	}
	if !strings.Contains(stderr, `"host":"down"`) {
		t.Errorf("the host that did not answer is not reported: %q", stderr)
	}
	stdout, _, err = runISO(t, cfg, "verify", "--all", "--host", "pair")
	if errs.KindOf(err) != errs.Verify || !strings.HasPrefix(stdout, "HOST ") || !strings.Contains(stdout, "h2 ") {
		t.Errorf("table: %v\n%s", err, stdout)
	}
}
