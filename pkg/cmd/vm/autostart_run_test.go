package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOrderAutostart(t *testing.T) {
	vms := []autostartVM{{"web", "apps", 50}, {"db", "core", 10}, {"dns", "core", 90}, {"misc", "zzz", 99}, {"cache", "apps", 50}, {"extra", "aaa", 1}}
	orderAutostart(vms, []string{"core", "network", "apps"})
	var got []string
	for _, v := range vms {
		got = append(got, v.name)
	}
	if strings.Join(got, " ") != "dns db cache web extra misc" {
		t.Errorf("order: %v", got)
	}
}

func autostartDomain(name, group string, prio int) string {
	return fmt.Sprintf(`<domain type='test'><name>%s</name><memory>65536</memory><os><type>hvm</type></os>
<metadata><hvctl:vm xmlns:hvctl="https://hyper-nixos.org/hvctl/1"><hvctl:profile>%s</hvctl:profile><hvctl:autostart group="%s" priority="%d"/></hvctl:vm></metadata></domain>`, name, name, group, prio)
}

func TestAutostartRun(t *testing.T) {
	c := virttest.Open(t)
	virttest.Define(t, c, autostartDomain("late", "apps", 10), autostartDomain("first", "core", 90), autostartDomain("second", "core", 20),
		`<domain type='test'><name>unmanaged</name><memory>65536</memory><os><type>hvm</type></os></domain>`)
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte("uri = \"test:///default\"\n[autostart]\ngroups = [\"core\", \"apps\"]\ndelay = \"2s\"\ngroup_delay = \"10s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, _, _ := cmdutiltest.NewFactory(t, nil)
	f.Global.ConfigFile = cfg
	f.Global.JSON = true
	var slept []time.Duration
	o := &AutostartRunOptions{F: f, Sleep: func(d time.Duration) { slept = append(slept, d) }}
	if err := runAutostartRun(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Name, Action, Group string
		Order               int
	}
	if err := json.Unmarshal(f.IO.Out.(*bytes.Buffer).Bytes(), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Name != "first" || rows[1].Name != "second" || rows[2].Name != "late" || rows[0].Action != "started" {
		t.Errorf("rows: %+v", rows)
	}
	if fmt.Sprint(slept) != "[2s 10s]" {
		t.Errorf("pauses: %v", slept)
	}
	for _, n := range []string{"first", "second", "late"} {
		d, _ := c.Domain(context.Background(), n)
		state, _, _ := d.State(context.Background())
		d.Free()
		if state != "running" {
			t.Errorf("%s is %s", n, state)
		}
	}
}
