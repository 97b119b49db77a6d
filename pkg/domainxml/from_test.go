package domainxml

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/profile"
	"github.com/pelletier/go-toml/v2"
	"libvirt.org/go/libvirtxml"
)

// Every golden definition, as hvctl renders it and as libvirt 9 returns it, comes back from
// ProfileFrom as a profile whose rendering Compare finds no drift in: what `vmctl profile from`
// writes, `vmctl diff` reports in sync.
func TestProfileFromRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/golden/*.xml")
	drift, _ := filepath.Glob("../../testdata/drift/*.libvirt9.xml")
	files = append(files, drift...)
	if len(files) < 4 {
		t.Fatalf("golden definitions: %v", files)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			x, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var live libvirtxml.Domain
			if err := live.Unmarshal(string(x)); err != nil {
				t.Fatal(err)
			}
			// The libvirt 9 fixtures were defined under another name than their profile's (whose
			// volumes they use); as that profile's VM they are what libvirt returns for it.
			if info := hvctlInfo(&live); info.Profile != "" && info.Profile != live.Name {
				live.Name = info.Profile
			}
			o := FromOptions{CloudInit: map[string]any{"user": "ops"}, Volumes: map[string]VolumeFacts{}}
			for _, d := range live.Devices.Disks {
				if d.Source != nil && d.Source.Volume != nil {
					o.Volumes[d.Source.Volume.Volume] = VolumeFacts{Capacity: 1 << 30}
				}
			}
			table, notes := ProfileFrom(&live, o)
			if len(notes) > 0 {
				t.Errorf("notes for a definition hvctl made: %q", notes)
			}
			body, err := toml.Marshal(table)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			path := filepath.Join(dir, live.Name+".toml")
			if err := os.WriteFile(path, body, 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := profile.Load(path, profile.Options{Dir: dir, Defaults: profile.Defaults{Network: "default", Memory: "3GiB", VCPUs: 3, DiskSize: "7GiB"}})
			if err != nil {
				t.Fatalf("the profile does not load: %v\n%s", err, body)
			}
			bo := Options{DomainType: live.Type, Machine: live.OS.Type.Machine, Pool: "default", ISOPath: p.InstallISO}
			for _, d := range live.Devices.Disks {
				if d.Source != nil && d.Source.Volume != nil {
					bo.Pool = d.Source.Volume.Pool
					if d.Source.Volume.Volume == SeedVolume(live.Name) {
						bo.SeedVolume = d.Source.Volume.Volume
					}
				}
			}
			desired, err := Build(p, bo)
			if err != nil {
				t.Fatal(err)
			}
			MACsFrom(desired, &live)
			changes, err := Compare(desired, &live)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range changes {
				t.Errorf("drift %s %s: live %q profile %q", c.Key, c.Kind, c.Live, c.Desired)
			}
			if t.Failed() {
				t.Logf("profile:\n%s", body)
			}
		})
	}
}

// A hand-made VM's disk outside the pool scheme and a second CD-ROM are said, not dropped
// silently.
func TestProfileFromNotes(t *testing.T) {
	def := &libvirtxml.Domain{Type: "kvm", Name: "hand", Devices: &libvirtxml.DomainDeviceList{Disks: []libvirtxml.DomainDisk{
		{Device: "disk", Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: "/srv/hand.img"}}, Target: &libvirtxml.DomainDiskTarget{Dev: "vda"}},
	}}}
	_, notes := ProfileFrom(def, FromOptions{})
	if j := strings.Join(notes, "\n"); !strings.Contains(j, "disk vda (disk, file /srv/hand.img)") || !strings.Contains(j, "no NIC") {
		t.Errorf("notes: %q", notes)
	}
}
