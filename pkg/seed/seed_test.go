package seed

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/profile"
)

func TestFromProfileAndISO(t *testing.T) {
	p := &profile.Profile{Name: "web01", CloudInit: &profile.Cloud{
		User: "ops", SSHKeys: []string{"ssh-ed25519 AAAA ops@x"}, Packages: []string{"nginx"}, RunCmd: []string{"echo hi"},
	}}
	s, err := FromProfile(p, "iid-1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(s.UserData), "#cloud-config\n") {
		t.Fatalf("user-data: %s", s.UserData)
	}
	var cfg map[string]any
	if err := json.Unmarshal(s.UserData[len("#cloud-config\n"):], &cfg); err != nil {
		t.Fatal(err)
	}
	users := cfg["users"].([]any)
	if users[0] != "default" || users[1].(map[string]any)["name"] != "ops" || cfg["packages"].([]any)[0] != "nginx" {
		t.Errorf("cloud-config: %v", cfg)
	}
	var meta map[string]string
	if err := json.Unmarshal(s.MetaData, &meta); err != nil || meta["instance-id"] != "iid-1" || meta["local-hostname"] != "web01" {
		t.Errorf("meta-data: %s %v", s.MetaData, err)
	}

	iso, err := s.ISO()
	if err != nil {
		t.Fatal(err)
	}
	// The primary volume descriptor sits at 32 KiB; its volume identifier at byte 40.
	if got := strings.TrimRight(string(iso[32768+40:32768+72]), " "); !strings.EqualFold(got, Label) {
		t.Errorf("volume label %q, want %q", got, Label)
	}
	img := filepath.Join(t.TempDir(), "seed.iso")
	if err := os.WriteFile(img, iso, 0o600); err != nil {
		t.Fatal(err)
	}
	// Read it back with an independent reader, as a guest's kernel would: xorriso's osirrox.
	out := t.TempDir()
	if msg, err := exec.Command("osirrox", "-indev", img, "-extract", "/", out).CombinedOutput(); err != nil {
		t.Fatalf("osirrox: %v\n%s", err, msg)
	}
	for name, want := range map[string][]byte{"user-data": s.UserData, "meta-data": s.MetaData} {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: %v, %q", name, err, got)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "network-config")); err == nil {
		t.Error("network-config written though none was given")
	}
}

func TestParseAndRename(t *testing.T) {
	orig := Seed{UserData: []byte("#cloud-config\n{}\n"), MetaData: []byte(`{"instance-id": "a", "local-hostname": "src", "extra": "kept"}`), NetworkConfig: []byte("version: 2\n")}
	iso, err := orig.ISO()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(iso)
	if err != nil {
		t.Fatal(err)
	}
	if string(s.UserData) != string(orig.UserData) || string(s.NetworkConfig) != string(orig.NetworkConfig) {
		t.Errorf("parsed: %+v", s)
	}
	if err := s.Rename("clone", "b"); err != nil {
		t.Fatal(err)
	}
	var meta map[string]string
	if err := json.Unmarshal(s.MetaData, &meta); err != nil || meta["instance-id"] != "b" || meta["local-hostname"] != "clone" || meta["extra"] != "kept" {
		t.Errorf("renamed: %s", s.MetaData)
	}
	if _, err := Parse([]byte("not an iso")); err == nil {
		t.Error("garbage parsed")
	}
}

// malformedSeed is a valid seed whose Joliet path table is 3 bytes long: go-diskfs's
// parseJolietPathTable panics on it (slice bounds), as it did in a clone.
func malformedSeed(t *testing.T) []byte {
	t.Helper()
	iso, err := (&Seed{UserData: []byte("#cloud-config\n{}\n"), MetaData: []byte(`{}`)}).ISO()
	if err != nil {
		t.Fatal(err)
	}
	for sec := 16; sec < 32; sec++ {
		d := iso[sec*2048:]
		if d[0] == 2 && string(d[1:6]) == "CD001" { // the supplementary (Joliet) descriptor
			binary.LittleEndian.PutUint32(d[132:], 3)
			binary.BigEndian.PutUint32(d[136:], 3)
			return iso
		}
	}
	t.Fatal("no Joliet descriptor in the seed")
	return nil
}

func TestParseMalformedIsAnErrorNotAPanic(t *testing.T) {
	if _, err := Parse(malformedSeed(t)); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("Parse of a malformed seed: %v", err)
	}
}
