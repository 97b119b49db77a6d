package profile

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

const dir = "../../testdata/profiles"

var defaults = Defaults{VCPUs: 1, Memory: "1GiB", DiskSize: "20GiB", Network: "default", DomainType: "auto"}

func TestLoadExtends(t *testing.T) {
	p, err := Load(filepath.Join(dir, "web.toml"), Options{Dir: dir, Defaults: defaults})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "web01" || p.VCPUs != 2 || p.Memory != "2GiB" || p.Disk.Size != "20GiB" || p.Disk.BaseImage != "debian-12-genericcloud" ||
		len(p.Networks) != 1 || p.Networks[0].Network != "default" || p.Networks[0].Model != "virtio" {
		t.Errorf("merged wrong: %+v", p)
	}
	if p.Graphics.Type != "spice" || p.Graphics.Listen != "127.0.0.1" || p.AutostartPriority == nil || *p.AutostartPriority != 50 {
		t.Errorf("defaults wrong: %+v %+v", p.Graphics, p.AutostartPriority)
	}
}

func TestDefaultsFromConfig(t *testing.T) {
	f := write(t, "min.toml", "name = \"m\"\n")
	p, err := Load(f, Options{Defaults: Defaults{VCPUs: 3, Memory: "3GiB", DiskSize: "30GiB", Network: "lan", DomainType: "qemu"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.VCPUs != 3 || p.Memory != "3GiB" || p.Disk.Size != "30GiB" || p.Networks[0].Network != "lan" || p.DomainType != "qemu" || p.Arch != "x86_64" || p.Firmware != "bios" {
		t.Errorf("got %+v", p)
	}
}

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every problem is reported at once, at its place, in file order.
func TestInvalidProfiles(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string // issue strings without the file name
	}{
		{"unknown and wrong types", `name = "x"
vcpus = "two"
memroy = "1G"
[disk]
size = 20
[[network]]
bridge = "br0"
mac = "52:54:00:zz:00:01"
`, []string{
			`:2:1: vcpus: must be an integer, not a string`,
			`:3:1: memroy: unknown key`,
			`:5:1: disk.size: must be a string, not an integer`,
			`:8:1: network[0].mac: "52:54:00:zz:00:01" is malformed (want a MAC address such as 52:54:00:12:34:56)`,
		}},
		{"ranges and enums", `name = "x"
vcpus = 0
firmware = "coreboot"
hostdevs = ["01:00.0"]
autostart_priority = 101
[video]
heads = 9
`, []string{
			`:2:1: vcpus: 0 is below the minimum 1`,
			`:3:1: firmware: "coreboot" is not one of bios, uefi, uefi-secure`,
			`:4:13: hostdevs[0]: "01:00.0" is malformed (want a PCI address such as 0000:01:00.0)`,
			`:5:1: autostart_priority: 101 is above the maximum 100`,
			`:7:1: video.heads: 9 is above the maximum 4`,
		}},
		{"rules across fields", `name = "bad name"
memory = "4GiB"
max_memory = "2GiB"
arch = "aarch64"
[cpu]
features = ["shstk"]
[[network]]
network = "default"
bridge = "br0"
[[network]]
user = true
mac = "01:00:5e:00:00:01"
[looking_glass]
enable = true
size = "48MiB"
[cloud_init]
hostname = "-bad-"
ssh_keys = ["not a key"]
`, []string{
			`:1:1: name: "bad name" is not a valid VM name (1-64 letters, digits, '.', '_', '-')`,
			`:3:1: max_memory: 2GiB is less than memory (4GiB)`,
			`:6:1: cpu.features: only x86_64 has these features`,
			`:7:3: network[0]: give exactly one of network, bridge, zone or user`,
			`:12:1: network[1].mac: 01:00:5e:00:00:01 is a multicast address`,
			`:15:1: looking_glass.size: 48MiB is not a power of two`,
			`:17:1: cloud_init.hostname: "-bad-" is not a valid hostname`,
			`:18:13: cloud_init.ssh_keys[0]: not an SSH public key`,
		}},
		{"syntax", "name = \"x\"\nvcpus = = 2\n", []string{`:2:9: `}},
		{"no name", "vcpus = 2\n", []string{`: name: a profile needs a name`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := write(t, "p.toml", c.body)
			_, err := Load(f, Options{Defaults: defaults})
			inv, ok := err.(*Invalid)
			if !ok {
				t.Fatalf("got %v, want *Invalid", err)
			}
			if errs.KindOf(err) != errs.Usage {
				t.Errorf("kind %s, want usage", errs.KindOf(err))
			}
			var got []string
			for _, i := range inv.Issues {
				got = append(got, strings.TrimPrefix(i.String(), f))
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d issues:\n%s\nwant %d:\n%s", len(got), strings.Join(got, "\n"), len(c.want), strings.Join(c.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], c.want[i]) {
					t.Errorf("issue %d:\ngot  %s\nwant %s", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestExtendsErrors(t *testing.T) {
	d := t.TempDir()
	a := filepath.Join(d, "a.toml")
	b := filepath.Join(d, "b.toml")
	_ = os.WriteFile(a, []byte("name = \"a\"\nextends = \"b\"\n"), 0o644)
	_ = os.WriteFile(b, []byte("name = \"b\"\nextends = \"a\"\n"), 0o644)
	if _, err := Load(a, Options{Dir: d}); err == nil || !strings.Contains(err.Error(), "extends loops") {
		t.Errorf("loop: %v", err)
	}
	c := filepath.Join(d, "c.toml")
	_ = os.WriteFile(c, []byte("name = \"c\"\nextends = \"nothere\"\n"), 0o644)
	if _, err := Load(c, Options{Dir: d}); err == nil || !strings.Contains(err.Error(), c+":2:1: extends: profile \"nothere\" not found") {
		t.Errorf("missing parent: %v", err)
	}
	// A problem inherited from the parent points into the parent.
	p := filepath.Join(d, "p.toml")
	_ = os.WriteFile(p, []byte("name = \"p\"\n\n[video]\nheads = 7\n"), 0o644)
	k := filepath.Join(d, "k.toml")
	_ = os.WriteFile(k, []byte("name = \"k\"\nextends = \"p\"\n"), 0o644)
	_, err := Load(k, Options{Dir: d})
	if err == nil || !strings.HasPrefix(err.Error(), p+":4:1: video.heads: 7 is above the maximum 4") {
		t.Errorf("inherited problem: %v", err)
	}
}

func TestSchemaMatchesDecoder(t *testing.T) {
	s := Schema()
	props := s["properties"].(map[string]any)
	if props["firmware"].(map[string]any)["enum"].([]string)[2] != "uefi-secure" {
		t.Errorf("firmware enum: %v", props["firmware"])
	}
	items := props["hostdevs"].(map[string]any)["items"].(map[string]any)
	if items["pattern"] == nil || items["type"] != "string" {
		t.Errorf("hostdevs items: %v", items)
	}
	net := props["network"].(map[string]any)["items"].(map[string]any)
	if net["additionalProperties"] != false || net["properties"].(map[string]any)["mac"] == nil {
		t.Errorf("network items: %v", net)
	}
	if props["vcpus"].(map[string]any)["minimum"] != 1 {
		t.Errorf("vcpus: %v", props["vcpus"])
	}
}

func TestSetOverrides(t *testing.T) {
	f := write(t, "s.toml", "name = \"s\"\nmemory = \"1GiB\"\n[disk]\nsize = \"10GiB\"\n")
	p, err := Load(f, Options{Set: []string{"memory=4GiB", "disk.size=\"40GiB\"", "vcpus=3", "name=other"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Memory != "4GiB" || p.Disk.Size != "40GiB" || p.VCPUs != 3 || p.Name != "other" {
		t.Errorf("got %+v", p)
	}
	_, err = Load(f, Options{Set: []string{"vcpus=lots"}})
	if err == nil || !strings.Contains(err.Error(), "--set vcpus=lots: vcpus: must be an integer, not a string") {
		t.Errorf("bad --set: %v", err)
	}
	if _, err := Load(f, Options{Set: []string{"novalue"}}); errs.KindOf(err) != errs.Usage {
		t.Errorf("malformed --set: %v", err)
	}
}

func TestImportDialects(t *testing.T) {
	cases := []struct {
		file  string
		check func(*Profile) bool
		note  string
	}{
		{"example_vm_ubuntu.json", func(p *Profile) bool {
			return p.Name == "ubuntu-vm" && p.VCPUs == 4 && p.Memory == "4GiB" && p.MaxMemory == "6GiB" && p.Disk.Size == "40GiB" &&
				p.InstallISO == "" && p.Networks[0].Bridge == "virbr0" && p.Networks[0].Vhost && p.Security.TPM &&
				strings.Join(p.CPU.Features, ",") == "shstk,ibt" && p.MemoryOpts.Memfd && p.Limits.CPUQuotaPercent == 200 &&
				p.AutostartGroup == "apps" && *p.AutostartPriority == 40 && p.HostDevs[0] == "0000:01:00.0"
		}, "is a placeholder"},
		{"usecase-gaming.json", func(p *Profile) bool {
			return p.Name == "gaming" && p.VCPUs == 1 && p.Memory == "1GiB" && p.Disk.Size == "120GiB" && p.MemoryOpts.Hugepages &&
				p.CPU.Mode == "host-passthrough" && p.Graphics.Type == "spice" && p.Networks[0].User
		}, "(the template asked for at least 6)"},
		{"rust-lib.json", func(p *Profile) bool {
			return p.Name == "tiny" && p.VCPUs == 1 && p.Memory == "512MiB" && p.Disk.Size == "5GiB"
		}, "memory_mb 512"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("../../testdata/import", c.file))
			if err != nil {
				t.Fatal(err)
			}
			out, notes, err := Import(data)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(notes, "\n"), c.note) || !strings.HasPrefix(string(out), "# Imported from") {
				t.Errorf("notes: %v", notes)
			}
			// The result is a valid profile.
			p, err := Load(write(t, "imported.toml", string(out)), Options{Defaults: Defaults{VCPUs: 1, Memory: "1GiB"}})
			if err != nil {
				t.Fatalf("imported profile invalid: %v\n%s", err, out)
			}
			if !c.check(p) {
				t.Errorf("imported wrong:\n%s\n%+v", out, p)
			}
		})
	}
	if _, _, err := Import([]byte("[1,2]")); err == nil {
		t.Error("a JSON array imported")
	}
}

// The importer reads what the old jq-based scripts read: strings for booleans and numbers,
// nested keys in place, a BOM; it keeps cpu_pinning whole or drops it, refuses to cut off
// fractions silently, and notes every key it does not carry over, nested ones included.
func TestImportReadsWhatJqRead(t *testing.T) {
	data := "\xef\xbb\xbf" + `{"name": "legacy", "cpus": "4", "memory_mb": "4096", "disk_gb": 20.0,
	  "hugepages": "true", "autostart": "true", "autostart_priority": "40",
	  "cpu_pinning": [2, "3", 4], "video": {"heads": 1.5},
	  "features": {"vhost_net": true, "gpu_passthrough": true},
	  "storage": {"cache": "none", "io": "native"}, "_comment": "x",
	  "network": {"bridge": "br0", "mode": "bridge"}}`
	out, notes, err := Import([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(write(t, "imported.toml", string(out)), Options{Defaults: Defaults{VCPUs: 1, Memory: "1GiB"}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if p.VCPUs != 4 || p.Memory != "4GiB" || p.Disk.Size != "20GiB" || !p.MemoryOpts.Hugepages || !p.Autostart ||
		p.AutostartPriority == nil || *p.AutostartPriority != 40 || !slices.Equal(p.CPU.Pinning, []int{2, 3, 4}) ||
		!p.Networks[0].Vhost || strings.Contains(string(out), "[video]") {
		t.Errorf("imported:\n%s", out)
	}
	all := strings.Join(notes, "\n")
	for _, want := range []string{"video.heads: 1.5 is not a whole number; dropped",
		"not carried over (no meaning in hvctl): _comment, features.gpu_passthrough, network.mode, storage.cache, storage.io"} {
		if !strings.Contains(all, want) {
			t.Errorf("notes lack %q:\n%s", want, all)
		}
	}
	// A pin that is not a number drops the list rather than moving every later vCPU.
	out, notes, err = Import([]byte(`{"name": "pins", "cpu_pinning": [2, "x", 4]}`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "\n[cpu]") || !strings.Contains(strings.Join(notes, "\n"), `cpu_pinning[1]: x is not a host CPU number; cpu_pinning dropped`) {
		t.Errorf("bad pin:\n%s\n%v", out, notes)
	}
}
