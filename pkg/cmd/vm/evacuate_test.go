package vm

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// evacuateConfig writes four test-driver hosts (the test driver cannot migrate, but it answers
// everything the plan asks: memory, guests, networks, names):
//
//	h1  the source: big01 (2 GiB), web01 and web02 (512 MiB), lonely01 (512 MiB, on network
//	    dmz, which no other host has) running on network lan; off01 shut off
//	h2  4 GiB, network lan, runs a web02 of its own (1 GiB): 3 GiB unallocated
//	h3  4 GiB, network lan, runs nothing: 4 GiB unallocated
//	h4  4 GiB, no network lan
//
// and down (nothing listens); groups: all4 = h1..h4, withdown = h3, down.
func evacuateConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	dom := func(name string, mib int, network, extra string) string {
		return `<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'><name>` + name +
			`</name><memory unit='MiB'>` + strconv.Itoa(mib) + `</memory><os><type>hvm</type></os><devices><interface type='network'><source network='` +
			network + `'/></interface></devices>` + extra + `</domain>`
	}
	network := func(name string) string {
		return `<network><name>` + name + `</name><bridge name='br-` + name + `'/></network>`
	}
	node := func(body string) string {
		return `<node><cpu><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads><active>4</active><mhz>2000</mhz><model>i686</model></cpu><memory>4194304</memory>` + body + `</node>`
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	h1 := write("h1.xml", node(network("lan")+network("dmz")+dom("big01", 2048, "lan", "")+dom("web01", 512, "lan", "")+
		dom("web02", 512, "lan", "")+dom("lonely01", 512, "dmz", "")+dom("off01", 512, "lan", "<test:runstate>5</test:runstate>")))
	h2 := write("h2.xml", node(network("lan")+dom("web02", 1024, "lan", "")))
	h3 := write("h3.xml", node(network("lan")))
	h4 := write("h4.xml", node(network("other")))
	return write("config.toml", `[hosts.h1]
uri = "test://`+h1+`"
[hosts.h2]
uri = "test://`+h2+`"
[hosts.h3]
uri = "test://`+h3+`"
[hosts.h4]
uri = "test://`+h4+`"
[hosts.down]
uri = "qemu+tcp://127.0.0.1:1/system"
[groups]
all4 = ["h1", "h2", "h3", "h4"]
withdown = ["h3", "down"]
`)
}

func evacuateCmd(f *cmdutil.Factory) *cobra.Command { return NewCmdEvacuate(f, nil) }

func evacuations(t *testing.T, stdout string) map[string]model.Evacuation {
	t.Helper()
	var es []model.Evacuation
	if err := json.Unmarshal([]byte(stdout), &es); err != nil {
		t.Fatalf("%v in %q", err, stdout)
	}
	out := map[string]model.Evacuation{}
	var order []string
	for _, e := range es {
		out[e.Name] = e
		order = append(order, e.Name)
	}
	if strings.Join(order, " ") != strings.Join(slices.Sorted(maps.Keys(out)), " ") {
		t.Errorf("results not in name order: %v", order)
	}
	return out
}

// Over a group, each running VM goes to the host that passes preflight with the most
// unallocated memory, counting the VMs placed before it (largest first); a VM no host takes is
// reported with every host's reason, and the rest are still planned: exit 6.
func TestEvacuatePlansOverAGroup(t *testing.T) {
	cfg := evacuateConfig(t)
	stdout, stderr, err := runBulkCmd(t, cfg, false, "", evacuateCmd, "h1", "--to", "all4", "--dry-run", "--json")
	if errs.KindOf(err) != errs.Partial {
		t.Fatalf("err = %v, want partial (stderr %q)", err, stderr)
	}
	got := evacuations(t, stdout)
	if _, ok := got["off01"]; ok || !strings.Contains(stderr, "off01") {
		t.Errorf("a shut-off VM is not moved but said to stay: %v, stderr %q", got["off01"], stderr)
	}
	want := map[string]string{"big01": "h3", "web01": "h2", "web02": "h3", "lonely01": ""}
	for name, to := range want {
		e, ok := got[name]
		if !ok {
			t.Errorf("%s: no result", name)
			continue
		}
		if e.To != to || e.From != "h1" {
			t.Errorf("%s: from %s to %q, want h1 to %q (why %q)", name, e.From, e.To, to, e.Why)
		}
		if to != "" && (!e.OK || e.Action != actPlanned) {
			t.Errorf("%s: ok %v action %q, want planned", name, e.OK, e.Action)
		}
	}
	// big01 (2 GiB) goes first, to h3 (4 GiB free against h2's 3); web01 then finds h2 (3 GiB)
	// ahead of h3 (2 GiB left).
	if w := got["big01"].Why; !strings.Contains(w, "most unallocated memory of the 2 hosts that pass preflight (h3 4GiB, h2 3GiB)") {
		t.Errorf("big01's why: %q", w)
	}
	if w := got["web01"].Why; !strings.Contains(w, "(h2 3GiB, h3 2GiB)") {
		t.Errorf("web01's why: %q", w)
	}
	// h2 has a web02 of its own: only h3 takes web02.
	if e := got["web02"]; e.Why != "the only one of 3 hosts that passes preflight" || !refusedBy(e, "h2", "a domain named web02 already exists there") {
		t.Errorf("web02: %+v", e)
	}
	// Every host refuses lonely01 (no network dmz anywhere): not found, each host's reason given.
	if e := got["lonely01"]; e.OK || e.Code != "not_found" || len(e.Refused) != 3 ||
		!strings.Contains(e.Error, "h2: network dmz does not exist there") || !refusedBy(e, "h4", "network dmz does not exist there") {
		t.Errorf("lonely01: %+v", e)
	}
	// h4 lacks network lan and says so for every VM.
	if !refusedBy(got["web01"], "h4", "network lan does not exist there") {
		t.Errorf("web01's refusals: %+v", got["web01"].Refused)
	}
}

func refusedBy(e model.Evacuation, host, reason string) bool {
	for _, r := range e.Refused {
		if r.Host == host && strings.Contains(r.Reason, reason) {
			return true
		}
	}
	return false
}

func TestEvacuateSelectsAndRefuses(t *testing.T) {
	cfg := evacuateConfig(t)
	// Patterns narrow the VMs; a single --to host is the only choice.
	stdout, _, err := runBulkCmd(t, cfg, false, "", evacuateCmd, "h1", "web*", "--to", "h3", "--dry-run", "--json")
	if err != nil {
		t.Fatal(err)
	}
	got := evacuations(t, stdout)
	if len(got) != 2 || got["web01"].To != "h3" || got["web02"].Why != "the host --to names; it passes preflight" {
		t.Errorf("web* to h3: %+v", got)
	}
	// A host that refuses every VM for the same reason: that reason's exit code, not partial.
	stdout, _, err = runBulkCmd(t, cfg, false, "", evacuateCmd, "h1", "web*", "--to", "h4", "--dry-run", "--json")
	if errs.KindOf(err) != errs.NotFound || len(evacuations(t, stdout)) != 2 {
		t.Errorf("to h4: %v %s", err, stdout)
	}
	// A target that does not answer is reported; the others take the VMs.
	stdout, stderr, err := runBulkCmd(t, cfg, false, "", evacuateCmd, "h1", "web01", "--to", "withdown", "--dry-run", "--json")
	if err != nil || evacuations(t, stdout)["web01"].To != "h3" || !strings.Contains(stderr, `"host":"down"`) {
		t.Errorf("withdown: %v %s %s", err, stdout, stderr)
	}
	// When the only other host does not answer and the one that does refuses the VM, the missing
	// host may be why: partial, not the refusal's own not-found.
	_, _, err = runBulkCmd(t, cfg, false, "", evacuateCmd, "h1", "lonely01", "--to", "withdown", "--dry-run", "--json")
	if errs.KindOf(err) != errs.Partial {
		t.Errorf("lonely01 to withdown: %v, want partial", err)
	}
	// --to takes a comma-separated list of hosts and groups, as --host does: h2,h3 spreads
	// web* as the group of those two would; a group in the list brings its hosts (h1 itself left
	// out), and a host named twice counts once.
	for _, to := range []string{"h2,h3", " h3 , h2", "withdown,h2", "all4,h3"} {
		stdout, stderr, err := runBulkCmd(t, cfg, false, "", evacuateCmd, "h1", "big01", "web01", "--to", to, "--dry-run", "--json")
		if to == "withdown,h2" {
			if err != nil || !strings.Contains(stderr, `"host":"down"`) {
				t.Errorf("--to %s: %v, stderr %q", to, err, stderr)
			}
		} else if err != nil {
			t.Errorf("--to %s: %v, stderr %q", to, err, stderr)
			continue
		}
		got := evacuations(t, stdout)
		if got["big01"].To != "h3" || got["web01"].To != "h2" {
			t.Errorf("--to %s: big01 to %q, web01 to %q, want h3 and h2", to, got["big01"].To, got["web01"].To)
		}
		if to == "all4,h3" && (len(got["web01"].Refused) != 1 || !refusedBy(got["web01"], "h4", "network lan")) {
			t.Errorf("--to %s: h4 not asked once: %+v", to, got["web01"].Refused)
		}
	}
	// A plain name that is not on the host is not found; nothing is planned.
	_, _, err = runBulkCmd(t, cfg, false, "", evacuateCmd, "h1", "nope", "--to", "h3", "--dry-run")
	if errs.KindOf(err) != errs.NotFound {
		t.Errorf("nope: %v", err)
	}
	for _, args := range [][]string{
		{"h1"},                       // no --to
		{"h1", "--to", "h1"},         // the host itself
		{"h9", "--to", "h2"},         // not a host
		{"h1", "--to", "nowhere"},    // not a host or group
		{"h1", "--to", "h2,nowhere"}, // one of a list not a host or group
		{"h1", "--to", "h2,"},        // an empty name in the list
		{"h1", "--to", "h1,h1"},      // only the host itself
		{"h1", "--to", "h2", "-j0"},  // no parallelism
		{"h1", "[", "--to", "h2"},    // a bad pattern
	} {
		if _, _, err := runBulkCmd(t, cfg, false, "", evacuateCmd, args...); errs.KindOf(err) != errs.Usage {
			t.Errorf("%v: %v, want usage", args, err)
		}
	}
}

// Without --dry-run the plan is confirmed first (listed on a terminal, --yes elsewhere); then
// each VM is moved and gets its own result. The test driver cannot migrate, so every move fails
// there, each reported, while the VM no host takes keeps its own reason.
func TestEvacuateConfirmsThenMoves(t *testing.T) {
	cfg := evacuateConfig(t)
	stdout, stderr, err := runBulkCmd(t, cfg, true, "n\n", evacuateCmd, "h1", "--to", "all4")
	if errs.KindOf(err) != errs.Usage || stdout != "" {
		t.Fatalf("answered no: %v, stdout %q", err, stdout)
	}
	for _, want := range []string{"  big01 → h3 (most unallocated memory", "  web02 → h3 (the only one of 3 hosts"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the question lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "lonely01 →") {
		t.Errorf("the question offers a VM no host takes:\n%s", stderr)
	}
	if _, _, err := runBulkCmd(t, cfg, false, "", evacuateCmd, "h1", "--to", "all4"); errs.KindOf(err) != errs.Usage {
		t.Errorf("no terminal, no --yes: %v", err)
	}

	stdout, _, err = runBulkCmd(t, cfg, false, "", evacuateCmd, "h1", "--to", "all4", "--yes", "--json", "-j", "3")
	if errs.KindOf(err) != errs.Partial {
		t.Fatalf("err = %v, want partial", err)
	}
	got := evacuations(t, stdout)
	for _, name := range []string{"big01", "web01", "web02"} {
		if e := got[name]; e.OK || e.To == "" || !strings.Contains(e.Error, "migrate "+name+" to "+e.To) {
			t.Errorf("%s: %+v", name, e)
		}
	}
	if e := got["lonely01"]; e.Code != "not_found" || e.To != "" {
		t.Errorf("lonely01: %+v", e)
	}
}

// An interrupt while the VMs are being checked ends the command there: no question, no move,
// no results claiming a plan.
func TestEvacuateInterruptedWhileChecking(t *testing.T) {
	cfg := evacuateConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx = virt.WithCallHook(ctx, func(what string) {
		if strings.HasPrefix(what, "look up network") { // the preflight's network check
			cancel()
		}
	})
	stdout, _, err := runBulkCmdContext(ctx, t, cfg, false, "", evacuateCmd, "h1", "--to", "all4", "--yes", "--json")
	if errs.KindOf(err) != errs.Interrupted || stdout != "" {
		t.Errorf("interrupted while checking: %v, stdout %q", err, stdout)
	}
}

// What the chosen host's preflight could not check (a disk in no pool there) is a warning on
// stderr, as migrate gives it: a plan read as a table must not hide it in the JSON's notes.
func TestEvacuateWarnsWhatPreflightCouldNotCheck(t *testing.T) {
	dir := t.TempDir()
	node := `<node><domain type='test'><name>web01</name><memory unit='MiB'>64</memory><os><type>hvm</type></os>` +
		`<devices><disk type='file' device='disk'><driver name='qemu' type='raw' cache='none'/><source file='/nowhere/web01.img'/>` +
		`<target dev='vda'/></disk></devices></domain></node>`
	h1, h2 := filepath.Join(dir, "h1.xml"), filepath.Join(dir, "h2.xml")
	cfg := filepath.Join(dir, "config.toml")
	for p, body := range map[string]string{h1: node, h2: `<node></node>`,
		cfg: "[hosts.h1]\nuri = \"test://" + h1 + "\"\n[hosts.h2]\nuri = \"test://" + h2 + "\"\n"} {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, err := runBulkCmd(t, cfg, false, "", evacuateCmd, "h1", "--to", "h2", "--dry-run")
	if err != nil {
		t.Fatalf("%v (stderr %q)", err, stderr)
	}
	if !strings.Contains(stdout, "planned") {
		t.Errorf("web01 not planned: %q", stdout)
	}
	if want := "warning: web01 on h2: disk vda: /nowhere/web01.img is in no storage pool there"; !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q: %q", want, stderr)
	}
}

// On a terminal the moves draw a bar; the line that says which VM moves next goes above it,
// not onto its end. One move at a time: the first fails at once (the test driver cannot
// migrate), the bar is drawn, and the second move's line follows.
func TestEvacuateLinesDoNotRunIntoTheBar(t *testing.T) {
	cfg := evacuateConfig(t)
	_, stderr, _ := runBulkCmd(t, cfg, true, "y\n", evacuateCmd, "h1", "web*", "--to", "h3", "-j", "1")
	if n := strings.Count(stderr, ": migrating "); n != 2 {
		t.Fatalf("%d migrating lines, want 2:\n%q", n, stderr)
	}
	if !regexp.MustCompile(`\(\d/2\)`).MatchString(stderr) {
		t.Fatalf("no bar drawn:\n%q", stderr)
	}
	if regexp.MustCompile(`\(\d/2\)[^\r\n]*: migrating`).MatchString(stderr) {
		t.Errorf("a migrating line runs into the bar:\n%q", stderr)
	}
}
