package virt

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"libvirt.org/go/libvirtxml"
)

func fixture(t *testing.T) *Conn {
	t.Helper()
	p, err := filepath.Abs("../../testdata/libvirt/host.xml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(context.Background(), "test://"+p, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestListVMs(t *testing.T) {
	ctx := context.Background()
	c := fixture(t)
	vms, err := c.ListVMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		state      string
		vcpus      int
		mem        uint64
		persistent bool
	}{
		"batch":         {StatePaused, 1, 512 << 20, true},
		"db-01":         {StateShutOff, 4, 2 << 30, true},
		"odd name\ttab": {StateShutOff, 1, 512 << 20, true},
		"scratch":       {StateRunning, 1, 512 << 20, false},
		"web-01":        {StateRunning, 2, 1 << 30, true},
		"web-02":        {StateRunning, 1, 512 << 20, true},
	}
	if len(vms) != len(want) {
		t.Fatalf("got %d VMs, want %d", len(vms), len(want))
	}
	for i, v := range vms {
		if i > 0 && vms[i-1].Name >= v.Name {
			t.Errorf("not sorted: %s before %s", vms[i-1].Name, v.Name)
		}
		w, ok := want[v.Name]
		if !ok {
			t.Errorf("unexpected VM %q", v.Name)
			continue
		}
		if v.State != w.state || v.VCPUs != w.vcpus || v.MemoryBytes != w.mem || v.Persistent != w.persistent || v.IPv4 == nil {
			t.Errorf("%s: got %+v, want %+v", v.Name, v, w)
		}
	}
}

// The test driver keeps state for the life of one connection, so a sequence of verbs on one
// connection shows the state machine of the lifecycle layer.
func TestLifecycleSequence(t *testing.T) {
	ctx := context.Background()
	c := fixture(t)
	d, err := c.Domain(ctx, "db-01")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	steps := []struct {
		name string
		do   func() (string, error)
		want string
		kind errs.Kind // expected error kind, Failure meaning none
	}{
		{"resume stopped", func() (string, error) { return d.Resume(ctx) }, "", errs.Conflict},
		{"pause stopped", func() (string, error) { return d.Pause(ctx) }, "", errs.Conflict},
		{"reboot stopped", func() (string, error) { return d.Reboot(ctx, "") }, "", errs.Conflict},
		{"stop stopped", func() (string, error) { return d.Stop(ctx, StopOptions{Wait: time.Second}) }, ActNone, errs.Failure},
		{"start", func() (string, error) { return d.Start(ctx) }, ActStarted, errs.Failure},
		{"start again", func() (string, error) { return d.Start(ctx) }, ActNone, errs.Failure},
		{"pause", func() (string, error) { return d.Pause(ctx) }, ActPaused, errs.Failure},
		{"start paused resumes", func() (string, error) { return d.Start(ctx) }, ActResumed, errs.Failure},
		{"autostart on", func() (string, error) { return d.SetAutostart(ctx, true) }, ActAutoOn, errs.Failure},
		{"autostart on again", func() (string, error) { return d.SetAutostart(ctx, true) }, ActNone, errs.Failure},
		// A network answers in the same words (pools: TestPoolAutostartActions).
		{"network autostart on", func() (string, error) { return c.SetNetworkAutostart(ctx, "isolated", true) }, ActAutoOn, errs.Failure},
		{"network autostart on again", func() (string, error) { return c.SetNetworkAutostart(ctx, "isolated", true) }, ActNone, errs.Failure},
		{"network autostart off", func() (string, error) { return c.SetNetworkAutostart(ctx, "isolated", false) }, ActAutoOff, errs.Failure},
		{"stop", func() (string, error) { return d.Stop(ctx, StopOptions{Wait: 5 * time.Second}) }, ActStopped, errs.Failure},
		{"kill stopped", func() (string, error) { return d.Kill(ctx) }, ActNone, errs.Failure},
		{"restart stopped starts", func() (string, error) { return d.Restart(ctx, StopOptions{Wait: time.Second}) }, ActRestarted, errs.Failure},
		{"kill", func() (string, error) { return d.Kill(ctx) }, ActDestroyed, errs.Failure},
	}
	for _, s := range steps {
		got, err := s.do()
		if s.kind != errs.Failure {
			if errs.KindOf(err) != s.kind {
				t.Errorf("%s: err %v (kind %s), want kind %s", s.name, err, errs.KindOf(err), s.kind)
			}
			continue
		}
		if err != nil || got != s.want {
			t.Errorf("%s: got %q, %v; want %q", s.name, got, err, s.want)
		}
	}
	if _, err := d.Undefine(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Domain(ctx, "db-01"); errs.KindOf(err) != errs.NotFound {
		t.Errorf("after undefine: %v", err)
	}
}

func TestUndefineRunningNeedsForce(t *testing.T) {
	ctx := context.Background()
	c := fixture(t)
	d, err := c.Domain(ctx, "web-01")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	if _, err := d.Undefine(ctx, false); errs.KindOf(err) != errs.Conflict {
		t.Fatalf("undefine running without force: %v", err)
	}
	if _, err := d.Undefine(ctx, true); err != nil {
		t.Fatal(err)
	}
}

func TestPlanStorageKeepsMediaAndForeignFiles(t *testing.T) {
	ctx := context.Background()
	c := fixture(t)
	d, err := c.Domain(ctx, "db-01")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	plan, err := d.PlanStorage(ctx, []string{"/var/lib/hvctl/images"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Remove) != 0 {
		t.Errorf("would remove %v", plan.Remove)
	}
	if plan.Keep["/var/lib/hvctl/isos/debian.iso"] != "install media" {
		t.Errorf("iso: %q", plan.Keep["/var/lib/hvctl/isos/debian.iso"])
	}
	if plan.Keep["/var/lib/libvirt/images/db-01.qcow2"] != "not in a libvirt storage pool" {
		t.Errorf("disk: %q", plan.Keep["/var/lib/libvirt/images/db-01.qcow2"])
	}
	plan, err = d.PlanStorage(ctx, []string{"/var/lib/libvirt/images"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Keep["/var/lib/libvirt/images/db-01.qcow2"] != "in the image store" {
		t.Errorf("protected dir not honoured: %v", plan.Keep)
	}
}

func TestDeadlines(t *testing.T) {
	c := fixture(t)
	ctx, cancel := WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	if _, err := c.DomainNames(ctx); errs.KindOf(err) != errs.Timeout {
		t.Errorf("expired deadline: %v (kind %s)", err, errs.KindOf(err))
	}
	block := make(chan struct{})
	defer close(block)
	ctx2, cancel2 := WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	_, err := call(ctx2, c, "stuck call", func() (int, error) { <-block; return 0, nil })
	if errs.KindOf(err) != errs.Timeout || err.Error() != "stuck call: libvirt at "+c.URI+" did not answer within 20ms" {
		t.Errorf("stuck call: %v", err)
	}
	ctx3, cancel3 := context.WithCancel(context.Background())
	cancel3()
	if _, err := c.DomainNames(ctx3); errs.KindOf(err) != errs.Interrupted {
		t.Errorf("cancelled: %v", err)
	}
}

func TestConnectErrors(t *testing.T) {
	ctx := context.Background()
	// An unknown scheme is tried on the local daemon, so its answer depends on one running:
	// "no driver" (usage) from a daemon, "cannot connect" without one.
	bogus := errs.Usage
	if c, err := net.Dial("unix", "/var/run/libvirt/libvirt-sock-ro"); err != nil {
		bogus = errs.Unreachable
	} else {
		c.Close()
	}
	for uri, kind := range map[string]errs.Kind{
		"qemu+unix:///system?socket=/nonexistent/libvirt-sock": errs.Unreachable,
		"test:///nonexistent/host.xml":                         errs.Unreachable,
		"bogus:///x":                                           bogus,
	} {
		_, err := Open(ctx, uri, true)
		if errs.KindOf(err) != kind || errs.HintOf(err) == "" {
			t.Errorf("%s: %v (kind %s, hint %q), want kind %s with a hint", uri, err, errs.KindOf(err), errs.HintOf(err), kind)
		}
	}
}

func TestSplitMetadata(t *testing.T) {
	got := splitMetadata(`<a:x xmlns:a="urn:a"><v>1</v></a:x> <b:y xmlns:b="urn:b"/>`)
	if len(got) != 2 || got[0].Namespace != "urn:a" || got[0].XML != `<a:x xmlns:a="urn:a"><v>1</v></a:x>` || got[1].Namespace != "urn:b" {
		t.Errorf("got %+v", got)
	}
}

// A daemon that accepts the connection and then says nothing must not hang us: the deadline
// turns into a timeout error naming the URI.
func TestStuckDaemonTimesOut(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "stuck.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, answer nothing
		}
	}()
	uri := "qemu+unix:///system?socket=" + sock
	ctx, cancel := WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = Open(ctx, uri, true)
	if errs.KindOf(err) != errs.Timeout || !strings.Contains(err.Error(), uri) || !strings.Contains(err.Error(), "300ms") {
		t.Fatalf("stuck daemon: %v (kind %s)", err, errs.KindOf(err))
	}
}

// A store's pool is made on first use and reused after; a pool of that name serving another
// directory (an older configuration) is a conflict, not a silent detour of the files.
func TestEnsureDirPool(t *testing.T) {
	ctx := context.Background()
	c, err := Open(ctx, "test:///default", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		if err := c.EnsureDirPool(ctx, "hvctl-test-store", dir); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	err = c.EnsureDirPool(ctx, "hvctl-test-store", filepath.Join(dir, "moved"))
	if errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "serves "+dir+", not "+dir+"/moved") || errs.HintOf(err) == "" {
		t.Errorf("moved store: %v (kind %s)", err, errs.KindOf(err))
	}
}

func TestHotPluggedVCPUs(t *testing.T) {
	x := `<domain type="qemu"><name>v</name><vcpu placement="static" current="1">4</vcpu><vcpus>
<vcpu id="0" enabled="yes" hotpluggable="no" order="1"/><vcpu id="1" enabled="yes" hotpluggable="yes" order="2"/>
<vcpu id="2" enabled="no" hotpluggable="yes"/><vcpu id="3" enabled="no" hotpluggable="yes"/></vcpus></domain>`
	var d libvirtxml.Domain
	if err := d.Unmarshal(x); err != nil {
		t.Fatal(err)
	}
	if n := hotPluggedVCPUs(&d); n != 1 {
		t.Errorf("hot-plugged: %d, want 1", n)
	}
	if n := hotPluggedVCPUs(&libvirtxml.Domain{}); n != 0 {
		t.Errorf("no vcpus element: %d", n)
	}
}

// Every way a volume is made in a pool that does not exist says how to make the pool.
func TestMissingPoolSaysHowToCreateIt(t *testing.T) {
	c, err := Open(context.Background(), "test:///default", false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.CreateVolume(context.Background(), NewVolume{Pool: "t-nopool", Name: "x.qcow2", Format: "qcow2", Capacity: 1 << 20})
	if errs.KindOf(err) != errs.NotFound || !strings.Contains(errs.HintOf(err), "vmctl pool create t-nopool") {
		t.Errorf("CreateVolume: %v (hint %q)", err, errs.HintOf(err))
	}
	_, err = c.VolumeExists(context.Background(), "t-nopool", "x.qcow2")
	if errs.KindOf(err) != errs.NotFound || !strings.Contains(errs.HintOf(err), "vmctl pool create t-nopool") {
		t.Errorf("VolumeExists: %v (hint %q)", err, errs.HintOf(err))
	}
}

// A pool's autostart answers as a domain's: the act, or none when it already was as asked.
func TestPoolAutostartActions(t *testing.T) {
	ctx := context.Background()
	c, err := Open(ctx, "test:///default", false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, step := range []struct {
		on   bool
		want string
	}{{true, ActAutoOn}, {true, ActNone}, {false, ActAutoOff}, {false, ActNone}} {
		if got, err := c.SetPoolAutostart(ctx, "default-pool", step.on); err != nil || got != step.want {
			t.Errorf("step %d, autostart %v: %q, %v; want %q", i, step.on, got, err, step.want)
		}
	}
}
