package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
)

const devicesVM = "t-devices-1"

// deviceChange is the part of `vmctl disk|nic … --json` the tests read.
type deviceChange struct {
	Target        string  `json:"target"`
	MAC           string  `json:"mac"`
	Action        string  `json:"action"`
	Live          bool    `json:"live"`
	Config        bool    `json:"config"`
	CapacityBytes *uint64 `json:"capacity_bytes"`
	VolumeCreated string  `json:"volume_created"`
	VolumeRemoved string  `json:"volume_removed"`
}

type listedDevice struct {
	Target     string `json:"target"`
	Device     string `json:"device"`
	MAC        string `json:"mac"`
	Source     string `json:"source"`
	Link       string `json:"link"`
	Definition string `json:"definition"`
}

// startDevicesGuest defines (persistent: device changes go to its definition too) and boots
// the file's one guest, the ISO its only disk, and waits for its agent.
func (e *env) startDevicesGuest() {
	e.t.Helper()
	def := guestDomain(devicesVM, e.iso, 11)
	def.Devices.Disks = def.Devices.Disks[:1]
	x, err := def.Marshal()
	if err != nil {
		e.t.Fatal(err)
	}
	d, err := e.conn.DomainDefineXML(x)
	if err != nil {
		e.t.Fatalf("define %s: %v", devicesVM, err)
	}
	e.t.Cleanup(func() {
		_ = d.Destroy()
		_ = d.UndefineFlags(libvirt.DOMAIN_UNDEFINE_NVRAM)
		_ = d.Free()
	})
	if err := d.Create(); err != nil {
		e.t.Fatalf("start %s: %v", devicesVM, err)
	}
	if out, errOut, code := e.run("vmctl", "wait", devicesVM, "--for", "agent", "--timeout", "3m"); code != 0 {
		e.t.Fatalf("wait --for agent: exit %d\n%s%s", code, out, errOut)
	}
}

// guestSh runs a shell script in the guest through vmctl exec and returns its output.
func (e *env) guestSh(script string) string {
	e.t.Helper()
	out, errOut, code := e.run("vmctl", "exec", devicesVM, "--", "sh", "-c", script)
	if code != 0 {
		e.t.Fatalf("exec %q: exit %d: %s", script, code, errOut)
	}
	return out
}

// guestBlocks is the guest's /proc/partitions as device → size in KiB blocks (vda → 65536).
func (e *env) guestBlocks() map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(e.guestSh("cat /proc/partitions"), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] != "major" {
			out[f[3]] = f[2]
		}
	}
	return out
}

// change runs a device verb that must succeed and decodes its JSON.
func (e *env) change(args ...string) (deviceChange, string) {
	e.t.Helper()
	out, errOut, code := e.run("vmctl", append(args, "--json")...)
	var c deviceChange
	if code != 0 || json.Unmarshal([]byte(out), &c) != nil {
		e.t.Fatalf("vmctl %v: exit %d\n%s%s", args, code, out, errOut)
	}
	return c, errOut
}

func (e *env) listed(kind string) []listedDevice {
	e.t.Helper()
	var l []listedDevice
	e.ok(&l, "vmctl", kind, "list", devicesVM)
	return l
}

func findListed(l []listedDevice, key string) *listedDevice {
	for i := range l {
		if l[i].Target == key || l[i].MAC == key {
			return &l[i]
		}
	}
	return nil
}

func TestDevicesOnRealDaemon(t *testing.T) {
	e := setup(t)
	e.startDevicesGuest()
	before := e.guestBlocks()
	newBlock := func(size string) string {
		for dev, blocks := range e.guestBlocks() {
			if _, had := before[dev]; !had && strings.HasPrefix(dev, "vd") && (size == "" || blocks == size) {
				return dev
			}
		}
		return ""
	}

	t.Log("disk attach live is seen by the guest, grows, detaches with its volume")
	func() {
		c, _ := e.change("disk", "attach", devicesVM, "--size", "64MiB", "--pool", poolName)
		want := poolDir + "/" + devicesVM + "-data1.qcow2"
		if c.Target != "vda" || c.Action != "attached" || !c.Live || !c.Config || c.VolumeCreated != want || c.CapacityBytes == nil || *c.CapacityBytes != 64<<20 {
			t.Fatalf("attach: %+v", c)
		}
		poll(t, "the guest sees the new disk", 60*time.Second, func() (bool, string) {
			return newBlock("65536") != "", fmt.Sprint(e.guestBlocks())
		})
		if d := findListed(e.listed("disk"), "vda"); d == nil || d.Definition != "both" {
			t.Errorf("disk list after attach: %+v", d)
		}
		// A taken target is refused, and so is the volume another attach would share.
		if _, errOut, code := e.run("vmctl", "disk", "attach", devicesVM, "--size", "1MiB", "--pool", poolName, "--target", "vda"); code != 4 || !strings.Contains(errOut, "target vda is taken") {
			t.Errorf("taken target: exit %d %s", code, errOut)
		}
		if _, errOut, code := e.run("vmctl", "disk", "attach", devicesVM, "--volume", poolName+"/"+devicesVM+"-data1.qcow2"); code != 4 || !strings.Contains(errOut, "in use by "+devicesVM) {
			t.Errorf("volume in use: exit %d %s", code, errOut)
		}

		c, _ = e.change("disk", "resize", devicesVM, "vda", "96MiB")
		if c.Action != "resized" || !c.Live {
			t.Errorf("resize: %+v", c)
		}
		poll(t, "the guest sees the grown disk", 60*time.Second, func() (bool, string) {
			return newBlock("98304") != "", fmt.Sprint(e.guestBlocks())
		})
		if _, errOut, code := e.run("vmctl", "disk", "resize", devicesVM, "vda", "64MiB"); code != 4 || !strings.Contains(errOut, "not shrinking") {
			t.Errorf("shrink: exit %d %s", code, errOut)
		}

		start := time.Now()
		c, _ = e.change("disk", "detach", devicesVM, "vda", "--remove-storage", "--yes", "--timeout", "2m")
		if c.Action != "detached" || !c.Live || !c.Config || c.VolumeRemoved != want {
			t.Errorf("detach: %+v", c)
		}
		// It returned once the guest had let go: the guest no longer has the disk now.
		if dev := newBlock(""); dev != "" {
			t.Errorf("detach returned after %s with the disk still in the guest (%s)", time.Since(start), dev)
		}
		if vols := e.volumes(); strings.Contains(strings.Join(vols, " "), devicesVM) {
			t.Errorf("volume left: %v", vols)
		}
	}()

	t.Log("a guest that does not release the disk is exit 5, saying what is attached")
	func() {
		_, errOut := e.change("disk", "attach", devicesVM, "--size", "16MiB", "--pool", poolName, "--live")
		if !strings.Contains(errOut, "attached to the running "+devicesVM+" only") {
			t.Errorf("live-only attach said: %q", errOut)
		}
		poll(t, "the guest sees the live disk", 60*time.Second, func() (bool, string) {
			return newBlock("16384") != "", fmt.Sprint(e.guestBlocks())
		})
		if d := findListed(e.listed("disk"), "vda"); d == nil || d.Definition != "live" {
			t.Errorf("disk list: %+v", d)
		}
		// A paused guest cannot answer the unplug request.
		dom, err := e.conn.LookupDomainByName(devicesVM)
		if err != nil {
			t.Fatal(err)
		}
		defer dom.Free()
		if err := dom.Suspend(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, errOut, code := e.run("vmctl", "disk", "detach", devicesVM, "vda", "--timeout", "4s")
		took := time.Since(start)
		if err := dom.Resume(); err != nil {
			t.Fatal(err)
		}
		if code != 5 || !strings.Contains(errOut, "vda is still attached to "+devicesVM+": the guest did not release it within 4s") ||
			!strings.Contains(errOut, "its definition never had it") {
			t.Errorf("detach from a paused guest: exit %d %q", code, errOut)
		}
		if took > 12*time.Second {
			t.Errorf("the 4s detach took %s", took)
		}
		// Running again, the guest completes the pending unplug.
		poll(t, "the pending unplug completes", 60*time.Second, func() (bool, string) {
			l := e.listed("disk")
			return findListed(l, "vda") == nil, fmt.Sprint(l)
		})
	}()

	t.Log("nic attach, link and detach")
	func() {
		mac := fmt.Sprintf("52:54:00:de:%02x:01", time.Now().Unix()%256)
		c, _ := e.change("nic", "attach", devicesVM, "--network", netName, "--mac", mac)
		if c.MAC != mac || c.Action != "attached" || !c.Live || !c.Config || !strings.HasPrefix(c.Target, "vnet") {
			t.Fatalf("nic attach: %+v", c)
		}
		script := "grep -l " + mac + " /sys/class/net/*/address"
		poll(t, "the guest sees the NIC", 60*time.Second, func() (bool, string) {
			out, _, code := e.run("vmctl", "exec", devicesVM, "--", "sh", "-c", script)
			return code == 0 && strings.Contains(out, "/address"), out
		})
		if _, errOut, code := e.run("vmctl", "nic", "attach", devicesVM, "--network", netName, "--mac", mac); code != 4 || !strings.Contains(errOut, "already has a NIC with MAC") {
			t.Errorf("the same MAC twice: exit %d %s", code, errOut)
		}
		// The guest brings up only the NICs it booted with: up, its carrier follows the link.
		dir := "$(dirname $(" + script + "))"
		e.guestSh("ip link set $(basename " + dir + ") up")
		carrier := "cat " + dir + "/carrier"
		poll(t, "the guest has carrier", 30*time.Second, func() (bool, string) {
			out := e.guestSh(carrier)
			return strings.TrimSpace(out) == "1", out
		})
		c, _ = e.change("nic", "link", devicesVM, c.Target, "down")
		if c.Action != "link_down" || c.MAC != mac {
			t.Errorf("link down: %+v", c)
		}
		if n := findListed(e.listed("nic"), mac); n == nil || n.Link != "down" || n.Definition != "both" {
			t.Errorf("nic list after link down: %+v", n)
		}
		poll(t, "the guest loses carrier", 30*time.Second, func() (bool, string) {
			out := e.guestSh(carrier)
			return strings.TrimSpace(out) == "0", out
		})
		if c, _ = e.change("nic", "link", devicesVM, mac, "down"); c.Action != "none" {
			t.Errorf("link down again: %+v", c)
		}
		e.change("nic", "link", devicesVM, mac, "up")
		poll(t, "the guest gets carrier back", 30*time.Second, func() (bool, string) {
			out := e.guestSh(carrier)
			return strings.TrimSpace(out) == "1", out
		})
		c, _ = e.change("nic", "detach", devicesVM, mac, "--timeout", "2m")
		if c.Action != "detached" || !c.Live || !c.Config {
			t.Errorf("nic detach: %+v", c)
		}
		if out, _, code := e.run("vmctl", "exec", devicesVM, "--", "sh", "-c", script); code == 0 {
			t.Errorf("the guest still has the NIC after detach returned: %s", out)
		}
		if n := findListed(e.listed("nic"), mac); n != nil {
			t.Errorf("nic list after detach: %+v", n)
		}
	}()

	t.Log("a stopped VM changes in its definition")
	func() {
		if _, _, code := e.run("vmctl", "kill", devicesVM); code != 0 {
			t.Fatal("kill failed")
		}
		c, _ := e.change("disk", "attach", devicesVM, "--size", "8MiB", "--pool", poolName)
		if c.Live || !c.Config || c.Target != "vda" || c.VolumeCreated == "" {
			t.Errorf("stopped attach: %+v", c)
		}
		made := c.VolumeCreated // data2: the live-only disk's data1 stays, as nobody asked to remove it
		if d := findListed(e.listed("disk"), "vda"); d == nil || d.Definition != "config" {
			t.Errorf("disk list: %+v", d)
		}
		if c, _ = e.change("disk", "resize", devicesVM, "vda", "12MiB"); c.Live || c.Action != "resized" {
			t.Errorf("stopped resize: %+v", c)
		}
		if v, err := e.conn.LookupStorageVolByPath(made); err != nil {
			t.Error(err)
		} else if info, err := v.GetInfo(); err != nil || info.Capacity != 12<<20 {
			t.Errorf("volume after resize: %+v %v", info, err)
		} else {
			_ = v.Free()
		}
		if _, errOut, code := e.run("vmctl", "disk", "detach", devicesVM, "vda", "--live"); code != 4 || !strings.Contains(errOut, "not running") {
			t.Errorf("--live on a stopped VM: exit %d %s", code, errOut)
		}
		c, _ = e.change("disk", "detach", devicesVM, "vda", "--remove-storage", "--yes")
		if c.Live || !c.Config || c.VolumeRemoved != made {
			t.Errorf("stopped detach: %+v", c)
		}
	}()
}

// volumes lists the names of the shared test pool's volumes.
func (e *env) volumes() []string {
	e.t.Helper()
	p, err := e.conn.LookupStoragePoolByName(poolName)
	if err != nil {
		e.t.Fatal(err)
	}
	defer p.Free()
	_ = p.Refresh(0)
	vols, err := p.ListAllStorageVolumes(0)
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, v := range vols {
		n, _ := v.GetName()
		names = append(names, n)
		_ = v.Free()
	}
	return names
}
