package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
)

// evacuation is one row of `vmctl evacuate --json`.
type evacuation struct {
	Name, From, To, Why, Action, Error, Code string
	OK                                       bool
	Refused                                  []struct{ Host, Code, Reason string }
}

// TestEvacuateToSecondHostAndBack empties this host of the running test guest onto the second
// libvirtd and back with vmctl evacuate: first refused by the preflight while the target lacks
// the guest's network and pool, then live there, a Ctrl-C that aborts the way back and leaves
// the guest where it was, and back. The daemon here is shared, so the evacuation of this host
// is narrowed to the test's guests ('e2e-*'); the second host holds only what the test put
// there, so it is evacuated whole.
func TestEvacuateToSecondHostAndBack(t *testing.T) {
	e := setup(t)
	far := secondHost(t)
	c2, err := libvirt.NewConnect(far)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	cfg := `[hosts.local]
uri = "` + uri + `"
peer_uri = "qemu+unix:///system?socket=/tmp/hvctl-h2/host1/libvirt-sock"
migration_uri = "tcp://10.213.0.1"
[hosts.far]
uri = "` + far + `"
migration_uri = "tcp://10.213.0.2"
[groups]
both = ["local", "far"]
`
	if err := os.MkdirAll(filepath.Join(e.config, "hvctl"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.config, "hvctl", "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	const vm = "e2e-1"
	e.act("started", "start", vm)

	// The bare second host lacks the guest's network and pool: refused, nothing moves.
	out, errOut, code := e.run("vmctl", "evacuate", "local", "e2e-*", "--to", "both", "--unsafe", "--yes", "--json")
	rows := evacuations(t, out)
	if code != 3 || len(rows) != 1 || rows[0].Name != vm || rows[0].To != "" || len(rows[0].Refused) != 1 ||
		!strings.Contains(rows[0].Refused[0].Reason, "network "+netName+" does not exist there") {
		t.Fatalf("preflight against a bare target: exit %d %s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "e2e-2") || e.state(vm) != "running" {
		t.Errorf("the shut-off guests are not said to stay, or the refused one was touched: %s %s", errOut, e.state(vm))
	}
	farNetwork(t, c2)
	farPool(t, c2)

	var res []evacuation
	e.ok(&res, "vmctl", "evacuate", "local", "e2e-*", "--to", "both", "--unsafe", "--yes")
	if len(res) != 1 || !res[0].OK || res[0].Action != "migrated" || res[0].From != "local" || res[0].To != "far" {
		t.Fatalf("evacuate local: %+v", res)
	}
	if st := farState(t, c2, vm); st != libvirt.DOMAIN_RUNNING {
		t.Fatalf("on far the guest is %v, want running", st)
	}
	if d, err := e.conn.LookupDomainByName(vm); err == nil {
		_ = d.Free()
		t.Fatalf("%s is still defined here after the evacuation", vm)
	}

	// The bulk verbs reach it there: through --host over both daemons, and as far:NAME alone.
	var acted []struct {
		Host, Name, Action string
		OK                 bool
	}
	e.ok(&acted, "vmctl", "pause", "--host", "both", vm)
	if len(acted) != 1 || acted[0].Host != "far" || acted[0].Action != "paused" || farState(t, c2, vm) != libvirt.DOMAIN_PAUSED {
		t.Errorf("pause --host both: %+v", acted)
	}
	e.ok(&acted, "vmctl", "resume", "far:"+vm)
	if len(acted) != 1 || acted[0].Host != "far" || acted[0].Action != "resumed" || farState(t, c2, vm) != libvirt.DOMAIN_RUNNING {
		t.Errorf("resume far:%s: %+v", vm, acted)
	}

	// Ctrl-C during the way back (capped at 1 MiB/s, it cannot finish) aborts the move: the
	// guest keeps running on far and nothing of it is left here.
	cmd := exec.Command(filepath.Join(e.bin, "vmctl"), "evacuate", "far", "--to", "local", "--unsafe", "--yes", "--bandwidth", "1", "--json")
	cmd.Env = append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME="+e.config)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	poll(t, "the migration job to start on far", 30*time.Second, func() (bool, string) {
		d, err := c2.LookupDomainByName(vm)
		if err != nil {
			return false, err.Error()
		}
		defer d.Free()
		ji, err := d.GetJobInfo()
		return err == nil && ji.Type != libvirt.DOMAIN_JOB_NONE, "no job"
	})
	_ = cmd.Process.Signal(syscall.SIGINT)
	err = cmd.Wait()
	rows = evacuations(t, stdout.String())
	if code := exitCode(err); code != 130 || len(rows) != 1 || rows[0].OK || rows[0].Code != "interrupted" ||
		!strings.Contains(rows[0].Error, "it still runs on the source") {
		t.Errorf("Ctrl-C: exit %d\nstdout %s\nstderr %s", code, stdout.String(), stderr.String())
	}
	if st := farState(t, c2, vm); st != libvirt.DOMAIN_RUNNING {
		t.Errorf("after the abort the guest is %v on far, want running", st)
	}
	if d, err := e.conn.LookupDomainByName(vm); err == nil {
		_ = d.Free()
		t.Errorf("after the abort %s is left here", vm)
	}

	// And back: far holds nothing but the guest, so it is evacuated whole.
	e.ok(&res, "vmctl", "evacuate", "far", "--to", "local", "--unsafe", "--yes")
	if len(res) != 1 || !res[0].OK || res[0].To != "local" {
		t.Fatalf("evacuate far: %+v", res)
	}
	if e.state(vm) != "running" {
		t.Fatalf("back home the guest is %s", e.state(vm))
	}
	if ids, err := c2.ListDomains(); err != nil || len(ids) != 0 {
		t.Errorf("far still runs domains after its evacuation: %v %v", ids, err)
	}

	// The README's maintenance window as written (--unsafe for the guest's default cache mode):
	// the evacuation lists the way back through --jq, and a loop of migrate brings exactly those
	// VMs home.
	moved := filepath.Join(t.TempDir(), "moved")
	recipe := exec.Command("bash", "-c", `set -e
vmctl evacuate local 'e2e-*' --to both --unsafe --yes --timeout 10m \
  --jq '.[] | select(.action == "migrated") | "\(.to) \(.name)"' > "$1"
while read -r host vm; do vmctl -c "$host" migrate "$vm" --to local --unsafe --timeout 10m; done < "$1"`, "recipe", moved)
	recipe.Env = append(os.Environ(), "PATH="+e.bin+":"+os.Getenv("PATH"), "HVCTL_URI="+uri,
		"HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME="+e.config)
	if out, err := recipe.CombinedOutput(); err != nil {
		t.Fatalf("the README's recipe: %v\n%s", err, out)
	}
	if list, err := os.ReadFile(moved); err != nil || string(list) != "far "+vm+"\n" {
		t.Errorf("the way back the recipe listed: %q %v", list, err)
	}
	if e.state(vm) != "running" {
		t.Errorf("after the recipe the guest is %s here", e.state(vm))
	}
	if d, err := c2.LookupDomainByName(vm); err == nil {
		_ = d.Free()
		t.Errorf("after the recipe %s is still on far", vm)
	}
}

func evacuations(t *testing.T, out string) []evacuation {
	t.Helper()
	var rows []evacuation
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("evacuate's JSON: %v\n%s", err, out)
	}
	return rows
}
