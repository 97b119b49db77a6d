package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// TestMigrateBetweenHosts moves a running test guest live to a second libvirtd (its own
// namespaces, shared image directory) and back with vmctl migrate, after the preflight has
// refused it for what the target lacked; then checks that a --timeout and a Ctrl-C abort the
// move and leave the guest running where it was.
func TestMigrateBetweenHosts(t *testing.T) {
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
`
	if err := os.MkdirAll(filepath.Join(e.config, "hvctl"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.config, "hvctl", "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	const vm = "e2e-1"
	e.act("started", "start", vm)

	// The target has neither the guest's network nor its pool yet.
	_, errOut, code := e.run("vmctl", "migrate", vm, "--to", "far")
	if code != 3 || !strings.Contains(errOut, "network "+netName+" does not exist there") || !strings.Contains(errOut, "storage pool "+poolName+" does not exist there") {
		t.Fatalf("preflight against a bare target: exit %d, %s", code, errOut)
	}
	if e.state(vm) != "running" {
		t.Fatalf("a refused move touched the guest: %s", e.state(vm))
	}
	farNetwork(t, c2)
	farPool(t, c2)
	// The data disk has the default cache mode: refused unless the user vouches for the storage.
	_, errOut, code = e.run("vmctl", "migrate", vm, "--to", "far")
	if code != 4 || !strings.Contains(errOut, "disk vdb uses the default cache mode") {
		t.Fatalf("cache preflight: exit %d, %s", code, errOut)
	}

	var res struct {
		Name, To, Mode string
		Persistent     bool
		SourceKept     bool   `json:"source_kept"`
		DataBytes      uint64 `json:"data_bytes"`
	}
	e.ok(&res, "vmctl", "migrate", vm, "--to", "far", "--unsafe")
	if res.To != "far" || res.Mode != "live" || !res.Persistent || res.SourceKept || res.DataBytes == 0 {
		t.Errorf("summary: %+v", res)
	}
	if st := farState(t, c2, vm); st != libvirt.DOMAIN_RUNNING {
		t.Fatalf("on far the guest is %v, want running", st)
	}
	if d, err := e.conn.LookupDomainByName(vm); err == nil {
		_ = d.Free()
		t.Fatalf("%s is still defined on the source", vm)
	}

	// And back, driven by the other daemon (-c far).
	e.ok(&res, "vmctl", "-c", "far", "migrate", vm, "--to", "local", "--unsafe")
	if e.state(vm) != "running" {
		t.Fatalf("back home the guest is %s", e.state(vm))
	}

	// A move capped at 1 MiB/s cannot finish 256 MiB in 4 s: the deadline aborts it.
	_, errOut, code = e.run("vmctl", "migrate", vm, "--to", "far", "--unsafe", "--bandwidth", "1", "--timeout", "4s")
	if code != 5 || !strings.Contains(errOut, "aborted; it still runs on the source") {
		t.Errorf("--timeout: exit %d, %s", code, errOut)
	}
	e.checkStayed(c2, vm)

	// Ctrl-C does the same.
	cmd := exec.Command(filepath.Join(e.bin, "vmctl"), "migrate", vm, "--to", "far", "--unsafe", "--bandwidth", "1")
	cmd.Env = append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME="+e.config)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	poll(t, "the migration job to start", 30*time.Second, func() (bool, string) {
		d, err := e.conn.LookupDomainByName(vm)
		if err != nil {
			return false, err.Error()
		}
		defer d.Free()
		ji, err := d.GetJobInfo()
		return err == nil && ji.Type != libvirt.DOMAIN_JOB_NONE, "no job"
	})
	_ = cmd.Process.Signal(syscall.SIGINT)
	err = cmd.Wait()
	if code := exitCode(err); code != 130 || !strings.Contains(stderr.String(), "it still runs on the source") {
		t.Errorf("Ctrl-C: exit %d, %s", code, stderr.String())
	}
	e.checkStayed(c2, vm)
}

// checkStayed checks that an aborted move left vm running here and nothing of it on far.
func (e *env) checkStayed(c2 *libvirt.Connect, vm string) {
	e.t.Helper()
	if st := e.state(vm); st != "running" {
		e.t.Errorf("after the abort the guest is %s here", st)
	}
	if d, err := c2.LookupDomainByName(vm); err == nil {
		_ = d.Free()
		e.t.Errorf("after the abort %s is left on the target", vm)
	}
}

func farState(t *testing.T, c *libvirt.Connect, name string) libvirt.DomainState {
	t.Helper()
	d, err := c.LookupDomainByName(name)
	if err != nil {
		t.Fatalf("%s on far: %v", name, err)
	}
	defer d.Free()
	st, _, err := d.GetState()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// farNetwork defines the e2e network on the second host: isolated like ours, in its own
// network namespace (so the same bridge name does not clash).
func farNetwork(t *testing.T, c *libvirt.Connect) {
	t.Helper()
	n := libvirtxml.Network{
		Name:   netName,
		Bridge: &libvirtxml.NetworkBridge{Name: bridge, STP: "off"},
		IPs: []libvirtxml.NetworkIP{{Address: subnet + "1", Netmask: "255.255.255.0",
			DHCP: &libvirtxml.NetworkDHCP{Ranges: []libvirtxml.NetworkDHCPRange{{Start: subnet + "100", End: subnet + "200"}}}}},
	}
	x, err := n.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	net, err := c.NetworkCreateXML(x)
	if err != nil {
		t.Fatalf("network on far: %v", err)
	}
	_ = net.Free()
}

// farPool makes the e2e pool's directory (shared with this host) a pool there too.
func farPool(t *testing.T, c *libvirt.Connect) {
	t.Helper()
	p := libvirtxml.StoragePool{Type: "dir", Name: poolName, Target: &libvirtxml.StoragePoolTarget{Path: poolDir}}
	x, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	pool, err := c.StoragePoolCreateXML(x, 0)
	if err != nil {
		t.Fatalf("pool on far: %v", err)
	}
	_ = pool.Free()
}

// secondHostOwnStorage starts the second host with storage of its own (second-host.sh start
// --own-storage) and returns its URI and where its /var/lib/libvirt/images is from here.
func secondHostOwnStorage(t *testing.T) (uri, images string) {
	t.Helper()
	script := "../../scripts/second-host.sh"
	out, err := exec.Command("bash", script, "start", "--own-storage").Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("second host: %v\n%s", err, stderr)
	}
	dir, err := exec.Command("bash", script, "images").Output()
	images = strings.TrimSpace(string(dir))
	if err != nil || !strings.HasPrefix(images, "/tmp/") {
		_ = exec.Command("bash", script, "stop").Run()
		t.Fatalf("the second host's own images: %q %v", images, err)
	}
	t.Cleanup(func() {
		_ = exec.Command("bash", script, "stop").Run()
		_ = os.RemoveAll(images) // the copies the test made there
	})
	return strings.TrimSpace(string(out)), images
}

// migrateConfig writes the hosts local and far (as the other e2e migration test does).
func (e *env) migrateConfig(far string) {
	e.t.Helper()
	cfg := `[hosts.local]
uri = "` + uri + `"
peer_uri = "qemu+unix:///system?socket=/tmp/hvctl-h2/host1/libvirt-sock"
migration_uri = "tcp://10.213.0.1"
[hosts.far]
uri = "` + far + `"
migration_uri = "tcp://10.213.0.2"
`
	if err := os.MkdirAll(filepath.Join(e.config, "hvctl"), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.config, "hvctl", "config.toml"), []byte(cfg), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// farVolumes lists the volumes of the e2e pool on far (after a refresh: a copy libvirt made
// is a file in the pool's directory).
func farVolumes(t *testing.T, c *libvirt.Connect) []string {
	t.Helper()
	p, err := c.LookupStoragePoolByName(poolName)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	_ = p.Refresh(0)
	vols, err := p.ListAllStorageVolumes(0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range vols {
		n, _ := v.GetName()
		names = append(names, n)
		_ = v.Free()
	}
	return names
}

// TestMigrateCopyStorage moves a running guest with --copy-storage to a second host that does
// not see this host's images. With its data disk a pool volume: --copy-storage inc is refused
// (libvirt cannot), an aborted copy leaves the guest here and nothing there, and
// --copy-storage all creates the copy in the target's pool, where the guest goes on running
// while the source's disk stays as it was; all brings it back onto that disk. With the data
// disk a file: inc is refused while the target lacks the file, and copies onto it once it is
// there.
func TestMigrateCopyStorage(t *testing.T) {
	e := setup(t)
	far, farImages := secondHostOwnStorage(t)
	c2, err := libvirt.NewConnect(far)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	e.migrateConfig(far)
	farNetwork(t, c2)
	// An empty pool of the same name over the same path, in the far host's own storage.
	if err := os.MkdirAll(filepath.Join(farImages, strings.TrimPrefix(poolDir, "/var/lib/libvirt/images/")), 0o755); err != nil {
		t.Fatal(err)
	}
	farPool(t, c2)
	// The boot ISO is read-only: libvirt never copies it, so it must be there (as install
	// media on a real host would be).
	rel, ok := strings.CutPrefix(e.iso, "/var/lib/libvirt/images/")
	if !ok {
		t.Fatalf("the guest ISO %s is not under /var/lib/libvirt/images", e.iso)
	}
	if err := os.MkdirAll(filepath.Join(farImages, filepath.Dir(rel)), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", e.iso, filepath.Join(farImages, rel)).CombinedOutput(); err != nil {
		t.Fatalf("stage the ISO there: %v %s", err, out)
	}

	const vm = "e2e-1"
	srcDisk := filepath.Join(poolDir, vm+"-data.qcow2")
	farDisk := filepath.Join(farImages, strings.TrimPrefix(srcDisk, "/var/lib/libvirt/images/"))
	// Data the copy must carry: a pattern in the middle of the data disk.
	if out, err := exec.Command("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 256k 64k", srcDisk).CombinedOutput(); err != nil {
		t.Fatalf("qemu-io: %v %s", err, out)
	}
	hasPattern := func(path string) bool {
		out, err := exec.Command("qemu-io", "-U", "-r", "-f", "qcow2", "-c", "read -P 0x5a 256k 64k", path).CombinedOutput()
		return err == nil && strings.Contains(string(out), "read 65536/65536") && !strings.Contains(string(out), "Pattern verification failed")
	}
	e.act("started", "start", vm)
	before := fileSum(t, srcDisk)

	_, errOut, code := e.run("vmctl", "migrate", vm, "--to", "far", "--copy-storage", "inc")
	if code != 4 || !strings.Contains(errOut, "disk vdb is pool volume "+poolName+"/"+vm+"-data.qcow2: libvirt cannot --copy-storage inc a pool volume") {
		t.Fatalf("--copy-storage inc of a pool volume: exit %d, %s", code, errOut)
	}

	// An aborted copy: the guest stays here, nothing of it stays there.
	_, errOut, code = e.run("vmctl", "migrate", vm, "--to", "far", "--copy-storage", "all", "--bandwidth", "1", "--timeout", "3s")
	if code != 5 || !strings.Contains(errOut, "aborted; it still runs on the source") {
		t.Fatalf("aborted copy: exit %d, %s", code, errOut)
	}
	t.Logf("aborted copy: %s", errOut)
	e.checkStayed(c2, vm)
	if vols := farVolumes(t, c2); len(vols) != 0 {
		t.Errorf("the aborted copy left %v on far", vols)
	}

	var res struct {
		To, Mode    string
		CopyStorage string `json:"copy_storage"`
		DataBytes   uint64 `json:"data_bytes"`
	}
	e.ok(&res, "vmctl", "migrate", vm, "--to", "far", "--copy-storage", "all")
	if res.To != "far" || res.Mode != "live" || res.CopyStorage != "all" || res.DataBytes == 0 {
		t.Errorf("summary: %+v", res)
	}
	time.Sleep(2 * time.Second) // running there, not just arrived
	if st := farState(t, c2, vm); st != libvirt.DOMAIN_RUNNING {
		t.Fatalf("on far the guest is %v, want running", st)
	}
	if d, err := e.conn.LookupDomainByName(vm); err == nil {
		_ = d.Free()
		t.Fatalf("%s is still defined here", vm)
	}
	if after := fileSum(t, srcDisk); after != before {
		t.Errorf("the move changed the source's disk")
	}
	// The copy is in far's own storage and holds what the source's disk holds (-U: far's
	// QEMU has it open).
	if out, err := exec.Command("qemu-img", "compare", "-U", srcDisk, farDisk).CombinedOutput(); err != nil {
		t.Errorf("the copy on far differs from the source's disk: %v %s", err, out)
	}
	if !hasPattern(farDisk) {
		t.Errorf("the pattern is not in the copy on far")
	}

	// Back onto the disk this host kept (libvirt copies onto a volume that is there).
	e.ok(&res, "vmctl", "-c", "far", "migrate", vm, "--to", "local", "--copy-storage", "all")
	if st := e.state(vm); st != "running" {
		t.Fatalf("back home the guest is %s", st)
	}

	// inc with the data disk a plain file: refused while far lacks it, then copied onto it.
	d, err := e.conn.LookupDomainByName(vm)
	if err != nil {
		t.Fatal(err)
	}
	x, err := d.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
	_ = d.Destroy()
	_ = d.Free()
	if err != nil {
		t.Fatal(err)
	}
	var def libvirtxml.Domain
	if err := def.Unmarshal(x); err != nil {
		t.Fatal(err)
	}
	for i, disk := range def.Devices.Disks {
		if disk.Target != nil && disk.Target.Dev == "vdb" {
			def.Devices.Disks[i].Source = &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: srcDisk}}
		}
	}
	if x, err = def.Marshal(); err != nil {
		t.Fatal(err)
	}
	if d, err = e.conn.DomainDefineXML(x); err != nil {
		t.Fatal(err)
	}
	_ = d.Free()
	e.act("started", "start", vm)
	p, err := c2.LookupStoragePoolByName(poolName)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	if v, err := p.LookupStorageVolByName(vm + "-data.qcow2"); err == nil { // the copy the move back left there
		_ = v.Delete(0)
		_ = v.Free()
	}
	_, errOut, code = e.run("vmctl", "migrate", vm, "--to", "far", "--copy-storage", "inc")
	if code != 3 || !strings.Contains(errOut, "disk vdb: --copy-storage inc copies onto a disk already there, and "+srcDisk+" is not there") {
		t.Fatalf("--copy-storage inc without the disk there: exit %d, %s", code, errOut)
	}
	v, err := p.StorageVolCreateXML(`<volume><name>`+vm+`-data.qcow2</name><capacity unit='MiB'>1</capacity><target><format type='qcow2'/></target></volume>`, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = v.Free()
	e.ok(&res, "vmctl", "migrate", vm, "--to", "far", "--copy-storage", "inc")
	if res.CopyStorage != "inc" {
		t.Errorf("summary inc: %+v", res)
	}
	if st := farState(t, c2, vm); st != libvirt.DOMAIN_RUNNING {
		t.Fatalf("after inc, on far the guest is %v", st)
	}
	if !hasPattern(farDisk) {
		t.Errorf("the pattern is not in the disk inc copied onto")
	}
}

// setUserfaultfd sets vm.unprivileged_userfaultfd and returns what it was.
func setUserfaultfd(t *testing.T, v string) string {
	t.Helper()
	const knob = "/proc/sys/vm/unprivileged_userfaultfd"
	old, err := os.ReadFile(knob)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(knob, []byte(v), 0o644); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(old))
}

// TestMigratePostcopy: --postcopy really switches. Where the target's QEMU cannot use
// userfaultfd (vm.unprivileged_userfaultfd = 0, QEMU without capabilities) libvirt refuses
// post-copy: one line with a hint, the guest stays here. Allowed, a move capped at 4 MiB/s
// that has not finished after its first pass switches, the source's guest is paused for
// post-copy meanwhile, and the guest ends up running there.
func TestMigratePostcopy(t *testing.T) {
	e := setup(t)
	far := secondHost(t)
	c2, err := libvirt.NewConnect(far)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	e.migrateConfig(far)
	farNetwork(t, c2)
	farPool(t, c2)
	const vm = "e2e-1"
	e.act("started", "start", vm)

	old := setUserfaultfd(t, "0")
	t.Cleanup(func() { setUserfaultfd(t, old) })
	_, errOut, code := e.run("vmctl", "migrate", vm, "--to", "far", "--unsafe", "--postcopy")
	if code != 1 || !strings.Contains(errOut, "Postcopy is not supported") || !strings.Contains(errOut, "hint: the target's QEMU cannot use userfaultfd") {
		t.Fatalf("post-copy without userfaultfd: exit %d, %s", code, errOut)
	}
	e.checkStayed(c2, vm)

	setUserfaultfd(t, "1")
	cmd := exec.Command(filepath.Join(e.bin, "vmctl"), "migrate", vm, "--to", "far", "--unsafe", "--postcopy", "--postcopy-after", "1", "--bandwidth", "4", "--timeout", "90s", "--json")
	cmd.Env = append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME="+e.config)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// The source's own word that post-copy ran: its guest paused for it.
	pausedForPostcopy := false
	d, err := e.conn.LookupDomainByName(vm)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-time.After(100 * time.Millisecond):
			if st, reason, err := d.GetState(); err == nil && st == libvirt.DOMAIN_PAUSED && libvirt.DomainPausedReason(reason) == libvirt.DOMAIN_PAUSED_POSTCOPY {
				pausedForPostcopy = true
			}
		}
	}
	if err != nil {
		t.Fatalf("migrate --postcopy: %v\n%s", err, stderr.String())
	}
	var res struct {
		Postcopy         bool
		PostcopyReason   string `json:"postcopy_reason"`
		PostcopyRequests uint64 `json:"postcopy_requests"`
		Iterations       uint64
	}
	if err := json.Unmarshal([]byte(stdout.String()), &res); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	t.Logf("post-copy: %+v; stderr: %s", res, stderr.String())
	if !res.Postcopy || res.PostcopyReason == "" || !strings.Contains(stderr.String(), "switched to post-copy") {
		t.Errorf("the move did not switch to post-copy: %+v", res)
	}
	if !pausedForPostcopy {
		t.Errorf("the source never showed its guest paused for post-copy")
	}
	if st := farState(t, c2, vm); st != libvirt.DOMAIN_RUNNING {
		t.Fatalf("on far the guest is %v, want running", st)
	}
}

// TestMigratePreflightCPU asks a real QEMU driver (the test driver cannot compare CPUs) whether
// it could run a guest's CPU: one it cannot provide is refused as a conflict (exit 4), one it
// can passes. Both hosts of the migration tests run the same QEMU, so a guest running here can
// never have a CPU the second host lacks: the check is asked of this host directly.
func TestMigratePreflightCPU(t *testing.T) {
	if os.Getenv("HVCTL_E2E") != "1" {
		t.Skip("end-to-end tests need root and libvirtd: run scripts/test.sh (HVCTL_E2E=1)")
	}
	ctx := context.Background()
	c, err := virt.Open(ctx, uri, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	def := func(model string, features ...string) *libvirtxml.Domain {
		cpu := &libvirtxml.DomainCPU{Mode: "custom", Match: "exact", Model: &libvirtxml.DomainCPUModel{Value: model}}
		for _, f := range features {
			cpu.Features = append(cpu.Features, libvirtxml.DomainCPUFeature{Policy: "require", Name: f})
		}
		return &libvirtxml.Domain{
			Type: "qemu", Name: "t-migrate-cpu", UUID: "5e0c4f7a-2b1d-4c8e-9a3f-6d7e8f901234", CPU: cpu,
			OS:      &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Arch: "x86_64", Machine: "pc", Type: "hvm"}},
			Devices: &libvirtxml.DomainDeviceList{Emulator: "/usr/bin/qemu-system-x86_64"},
		}
	}
	problems, notes, err := virt.MigrationPreflight(ctx, c, def("Skylake-Server", "avx512f"), true, virt.MigrateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || problems[0].Kind != errs.Conflict || problems[0].Reason != "the target's hypervisor cannot provide its CPU (model Skylake-Server)" {
		t.Errorf("a CPU TCG cannot provide: %+v (notes %v)", problems, notes)
	}
	problems, notes, err = virt.MigrationPreflight(ctx, c, def("qemu64"), true, virt.MigrateOptions{})
	if err != nil || len(problems) != 0 || len(notes) != 0 {
		t.Errorf("qemu64: %+v %v %v", problems, notes, err)
	}
}
