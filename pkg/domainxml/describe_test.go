package domainxml

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/model"
)

// Every disk and interface type of testdata/libvirt/show-devices.xml gets its type and
// source, and the devices hvctl's profiles configure are listed.
func TestDescribe(t *testing.T) {
	def := definition(t, "../../testdata/libvirt/show-devices.xml")
	var v model.VMDetail
	Describe(def, &v)
	disks := map[string][2]string{}
	for _, d := range v.Disks {
		disks[d.Target] = [2]string{d.Type, d.Source}
	}
	for target, want := range map[string][2]string{
		"hda": {"dir", "/var/somefiles"},
		"vda": {"nvme", "0000:01:00.0 namespace 1"},
		"vdb": {"vhostuser", "/tmp/vhost1.sock"},
		"vdc": {"vhostvdpa", "/dev/vhost-vdpa-0"},
		"vdd": {"network", "nbd://example.org:6000"},
		"vde": {"network", "rbd://mon1.example.org:6321,mon2.example.org:6322/pool/image"},
	} {
		if disks[target] != want {
			t.Errorf("disk %s: got %q, want %q", target, disks[target], want)
		}
	}
	nics := map[string][2]string{}
	for _, n := range v.NICs {
		nics[n.MAC] = [2]string{n.Type, n.Source}
	}
	for mac, want := range map[string][2]string{
		"52:54:00:8b:c5:01": {"ethernet", "tap-ext"},
		"52:54:00:ee:96:6b": {"vhostuser", "/tmp/vhost0.sock (server)"},
		"52:54:00:8b:c5:02": {"server", "192.0.2.1:5558"},
		"52:54:00:8b:c5:03": {"client", "192.0.2.1:5558"},
		"52:54:00:8b:c5:04": {"mcast", "230.0.0.1:5558"},
		"52:54:00:8b:c5:05": {"udp", "192.0.2.1:5555 (local 192.0.2.1:5556)"},
		"52:54:00:8b:c5:06": {"hostdev", "0000:03:07.1"},
		"52:54:00:8b:c5:07": {"vdpa", "/dev/vhost-vdpa-1"},
	} {
		if nics[mac] != want {
			t.Errorf("nic %s: got %q, want %q", mac, nics[mac], want)
		}
	}
	got, _ := json.Marshal(struct {
		TPMs        []model.TPM
		Hostdevs    []model.Hostdev
		Filesystems []model.Filesystem
		Watchdogs   []model.Watchdog
		RNGs        []model.RNG
		SecLabels   []model.SecLabel
		Videos      []model.Video
		Sounds      []string
		Shmems      []model.Shmem
		Balloon     string
		Chardevs    []model.Chardev
	}{v.TPMs, v.Hostdevs, v.Filesystems, v.Watchdogs, v.RNGs, v.SecLabels, v.Videos, v.Sounds, v.Shmems, v.Balloon, v.Chardevs})
	want := `{"TPMs":[{"model":"tpm-crb","backend":"emulator","version":"2.0","source":""}],` +
		`"Hostdevs":[{"type":"usb","source":"046d:c52b","managed":false},{"type":"pci","source":"0000:06:12.5","managed":true}],` +
		`"Filesystems":[{"type":"mount","driver":"virtiofs","source":"/srv/share","target":"share","read_only":false},` +
		`{"type":"mount","driver":"","source":"/export/to/guest","target":"/import/from/host","read_only":true}],` +
		`"Watchdogs":[{"model":"i6300esb","action":"poweroff"}],` +
		`"RNGs":[{"model":"virtio","backend":"egd","source":"192.0.2.2:1234"}],` +
		`"SecLabels":[{"model":"selinux","type":"static","label":"system_u:system_r:svirt_t:s0:c192,c392","relabel":true}],` +
		`"Videos":[{"model":"virtio","heads":2}],"Sounds":["ich9"],` +
		`"Shmems":[{"name":"looking-glass","model":"ivshmem-plain","size_bytes":33554432}],"Balloon":"none",` +
		`"Chardevs":[{"kind":"serial","type":"file","target":"","source":"/var/log/devices-serial.log"},` +
		`{"kind":"console","type":"pty","target":"serial","source":""},` +
		`{"kind":"channel","type":"unix","target":"org.qemu.guest_agent.0","source":"/var/lib/libvirt/qemu/channel/target/devices.agent"}]}`
	if string(got) != want {
		t.Errorf("devices:\n got %s\nwant %s", got, want)
	}
	if _, err := os.Stat("../../testdata/libvirt/show-devices.xml"); err != nil {
		t.Fatal(err)
	}
}
