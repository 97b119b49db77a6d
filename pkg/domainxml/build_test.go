package domainxml

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/profile"
	"libvirt.org/go/libvirtxml"
)

var update = flag.Bool("update", false, "rewrite the golden XML files")

const profiles = "../../testdata/profiles"

func render(t *testing.T, file string) string {
	t.Helper()
	p, err := profile.Load(file, profile.Options{Dir: profiles, Defaults: profile.Defaults{Network: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{DomainType: "kvm", Pool: "hvctl", Zones: map[string]string{"dmz": "br-dmz"}}
	if p.InstallISO != "" {
		o.ISOPath = "/var/lib/hvctl/isos/" + p.InstallISO
	}
	if p.CloudInit != nil {
		o.SeedVolume = SeedVolume(p.Name)
	}
	d, err := Build(p, o)
	if err != nil {
		t.Fatal(err)
	}
	x, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return x + "\n"
}

// Every profile in testdata/profiles renders to its golden XML, and libvirt's own schema
// (virt-xml-validate) accepts the result.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(profiles, "*.toml"))
	if len(files) == 0 {
		t.Fatal("no profiles")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".toml")
		t.Run(name, func(t *testing.T) {
			got := render(t, f)
			golden := filepath.Join("../../testdata/golden", name+".xml")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/domainxml -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the golden file; got:\n%s", name, got)
			}
			out, err := exec.Command("virt-xml-validate", golden, "domain").CombinedOutput()
			if err != nil {
				t.Errorf("libvirt's schema rejects %s: %v\n%s", golden, err, out)
			}
		})
	}
}

func TestConsoleAgentAndRNGAlways(t *testing.T) {
	p := &profile.Profile{Name: "min", Arch: "x86_64", VCPUs: 1, Memory: "512MiB", Firmware: "bios",
		Disk: profile.Disk{Size: "1GiB", Bus: "virtio"}, Graphics: profile.Graphics{Type: "none"}}
	d, err := Build(p, Options{DomainType: "qemu"})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Devices.Serials) != 1 || len(d.Devices.Consoles) != 1 || len(d.Devices.RNGs) != 1 ||
		len(d.Devices.Channels) != 1 || d.Devices.Channels[0].Target.VirtIO.Name != "org.qemu.guest_agent.0" {
		t.Errorf("devices: %+v", d.Devices)
	}
	if d.Type != "qemu" || d.CPU.Mode != "maximum" || len(d.Devices.Graphics) != 0 {
		t.Errorf("qemu domain: type %s cpu %s graphics %d", d.Type, d.CPU.Mode, len(d.Devices.Graphics))
	}
	// It parses back.
	x, _ := d.Marshal()
	var back libvirtxml.Domain
	if err := back.Unmarshal(x); err != nil || back.Name != "min" {
		t.Errorf("round trip: %v", err)
	}
}

func TestUnknownZone(t *testing.T) {
	p := &profile.Profile{Name: "z", Arch: "x86_64", VCPUs: 1, Memory: "1GiB", Disk: profile.Disk{Bus: "virtio"},
		Networks: []profile.NIC{{Zone: "nowhere", Model: "virtio"}}}
	if _, err := Build(p, Options{DomainType: "kvm"}); err == nil || !strings.Contains(err.Error(), `zone "nowhere"`) {
		t.Errorf("got %v", err)
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	prio := 70
	p := &profile.Profile{Name: "m", Owner: "ops", Arch: "x86_64", VCPUs: 1, Memory: "1GiB", Disk: profile.Disk{Bus: "virtio"},
		Autostart: true, AutostartGroup: "core", AutostartPriority: &prio, Graphics: profile.Graphics{Type: "none"}}
	d, err := Build(p, Options{DomainType: "kvm"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := ParseMetadata(d.Metadata.XML)
	if err != nil || info.Profile != "m" || info.Owner != "ops" || !strings.HasPrefix(info.Applied, "sha256:") || info.Autostart == nil || info.Autostart.Group != "core" || info.Autostart.Priority != 70 {
		t.Errorf("%+v %v", info, err)
	}
	// libvirt's metadata API hands the element back without its namespace.
	info, err = ParseMetadata("<vm>\n  <profile>q</profile>\n</vm>")
	if err != nil || info.Profile != "q" || info.Autostart != nil {
		t.Errorf("re-prefixed: %+v %v", info, err)
	}
}

// hvctl's NICs carry libvirt's clean-traffic filter (audit control VM-025) unless the profile
// opts out; a user-mode NIC has no host tap for a filter to work on.
func TestNetworkFilter(t *testing.T) {
	build := func(body string) []libvirtxml.DomainInterface {
		t.Helper()
		f := filepath.Join(t.TempDir(), "p.toml")
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := profile.Load(f, profile.Options{Defaults: profile.Defaults{VCPUs: 1, Memory: "1GiB"}})
		if err != nil {
			t.Fatal(err)
		}
		d, err := Build(p, Options{DomainType: "kvm"})
		if err != nil {
			t.Fatal(err)
		}
		return d.Devices.Interfaces
	}
	const nics = "[[network]]\nnetwork = \"lan\"\n[[network]]\nbridge = \"br0\"\n[[network]]\nuser = true\n"
	got := build("name = \"f\"\n" + nics)
	if got[0].FilterRef == nil || got[0].FilterRef.Filter != "clean-traffic" || got[1].FilterRef == nil || got[2].FilterRef != nil {
		t.Errorf("default: %+v %+v %+v", got[0].FilterRef, got[1].FilterRef, got[2].FilterRef)
	}
	for _, n := range build("name = \"f\"\nnetwork_filter = \"none\"\n" + nics) {
		if n.FilterRef != nil {
			t.Errorf("network_filter = none: %+v", n.FilterRef)
		}
	}
	if got := build("name = \"f\"\nnetwork_filter = \"clean-traffic-gateway\"\n" + nics); got[0].FilterRef.Filter != "clean-traffic-gateway" {
		t.Errorf("named filter: %+v", got[0].FilterRef)
	}
}
