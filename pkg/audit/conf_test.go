package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The parser reads what libvirt's virConf reads: lists spanning lines with a trailing comma,
// single, double and triple quotes, `;` between statements, comments after values, signed
// integers, the first of duplicate keys, and each value's line.
func TestParseConfLikeVirConf(t *testing.T) {
	c := conf(t, "qemu.conf", `# a comment
user = 'root'   # trailing comment
dynamic_ownership = 0; remember_owner = -1
security_driver = [ "selinux",
   'none',
]
vnc_password = """a#b"""
spice_password = "x'y"
user = "qemu"
`)
	if s, _, _ := c.String("user"); s != "root" {
		t.Errorf("user = %q: the first setting wins, as virConfGetValue returns the first entry", s)
	}
	if v, _ := c.Lookup("user"); v.Line != 2 {
		t.Errorf("user is on line %d, want 2", v.Line)
	}
	if n, set, err := c.Int("dynamic_ownership"); n != 0 || !set || err != nil {
		t.Errorf("dynamic_ownership = %d %v %v", n, set, err)
	}
	if n, _, _ := c.Int("remember_owner"); n != -1 {
		t.Errorf("remember_owner after ';' = %d", n)
	}
	if l, _, _ := c.Strings("security_driver"); strings.Join(l, ",") != "selinux,none" {
		t.Errorf("security_driver = %q", l)
	}
	if v, _ := c.Lookup("vnc_password"); v.Str != "a#b" || v.Line != 7 {
		t.Errorf("vnc_password = %+v", v)
	}
	if s, _, _ := c.String("spice_password"); s != "x'y" {
		t.Errorf("spice_password = %q", s)
	}
	if _, _, err := c.Int("user"); err == nil || !strings.Contains(err.Error(), "qemu.conf:2: user = 'root'") {
		t.Errorf("a string read as an integer: %v", err)
	}
	// A single string is a one-item list (libvirt's compatString).
	if l, _, _ := conf(t, "qemu.conf", `security_driver = "none"`).Strings("security_driver"); len(l) != 1 || l[0] != "none" {
		t.Errorf("string as list: %q", l)
	}
	for text, line := range map[string]int{
		"a = [\n \"x\", # no comments in lists\n]\n": 2, // virConf wants a separator there
		"a = 1 b = 2\n":      1,
		"a = \"open\n":       1,
		"\n\nlisten_tcp 1\n": 3,
		"a = yes\n":          1,
	} {
		_, err := ParseConf("/etc/libvirt/x.conf", []byte(text))
		var se *ConfSyntaxError
		if !errors.As(err, &se) || se.Line != line {
			t.Errorf("%q: %v, want a syntax error on line %d", text, err, line)
		}
	}
}

// Settings written in valid syntax the old line parser misread are judged as libvirt reads
// them: a list or single-quoted "none", a single-quoted root, the first of two settings, a
// setting after ';'.
func TestConfSyntaxEvasions(t *testing.T) {
	cases := []struct {
		text, id, sev string
		line          int
	}{
		{`security_driver = [ "none" ]`, "DAEMON-013", "critical", 1},
		{"security_driver = 'none'", "DAEMON-013", "critical", 1},
		{"user = 'root'", "DAEMON-016", "critical", 1},
		{"user = \"root\"\nuser = \"qemu\"", "DAEMON-016", "critical", 1},
		{`vnc_listen = "127.0.0.1"; security_driver = "none"`, "DAEMON-013", "critical", 1},
		{"# hardening\ndynamic_ownership = 1\nremember_owner = 0", "DAEMON-017", "low", 3},
		{`cgroup_controllers = [ "cpu", "memory" ]`, "DAEMON-018", "medium", 1},
		{"cgroup_device_acl = [\n  \"/dev/null\", \"/dev/kvm\",\n  \"/dev/sda\"\n]", "DAEMON-018", "medium", 1},
		{"vnc_listen = \"0.0.0.0\"\nvnc_tls = 1\nvnc_password = \"x\"\nvnc_tls_x509_verify = 0", "DAEMON-019", "medium", 4},
	}
	for _, c := range cases {
		inv := &Inventory{Local: true, QEMUConf: conf(t, "qemu.conf", c.text)}
		var got []string
		for _, f := range Run(inv, only(c.id), nil) {
			got = append(got, f.Status+" "+f.Severity)
			if f.Status == "fail" && (f.Location == nil || f.Location.File != "/etc/libvirt/qemu.conf" || f.Location.Line != c.line) {
				t.Errorf("%q: location %+v, want line %d", c.text, f.Location, c.line)
			}
			if f.Status == "fail" && f.Remediation == "" {
				t.Errorf("%q: no remediation", c.text)
			}
		}
		if strings.Join(got, ",") != "fail "+c.sev {
			t.Errorf("%q: %s %v, want fail %s", c.text, c.id, got, c.sev)
		}
	}
	// The same keys, safe.
	inv := &Inventory{Local: true, QEMUConf: conf(t, "qemu.conf", "user = \"qemu\"\nuser = \"root\"\nsecurity_driver = [ \"apparmor\" ]\n"+
		"cgroup_controllers = [ \"devices\" ]\ncgroup_device_acl = [ \"/dev/null\", \"/dev/kvm\" ]\n")}
	if got := failed(Run(inv, only("DAEMON-013", "DAEMON-016", "DAEMON-017", "DAEMON-018"), nil)); len(got) != 0 {
		t.Errorf("safe settings fail: %v", got)
	}
	// A file libvirt would refuse is an error with its line, never a pass.
	inv.QEMUConf = ReadConfText(t, "qemu.conf", "user = \"qemu\"\nsecurity_driver = none\n")
	for _, f := range Run(inv, only("DAEMON-013"), nil) {
		if f.Status != "error" || f.Location == nil || f.Location.Line != 2 {
			t.Errorf("unparsable qemu.conf: %+v", f)
		}
	}
}

// ReadConfText writes text to a temporary /etc/libvirt/NAME and reads it back as the audit does.
func ReadConfText(t *testing.T, name, text string) *Conf {
	t.Helper()
	root := t.TempDir()
	write(t, root, map[string]string{"etc/libvirt/" + name: text})
	return ReadConf(root, "/etc/libvirt/"+name)
}

// On a modular host the daemons read virtqemud.conf and virtproxyd.conf: a setting there
// counts, one left in libvirtd.conf (which nothing reads) does not.
func TestModularDaemonFiles(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		"run/libvirt/virtqemud-sock":       "",
		"etc/libvirt/libvirtd.conf":        "audit_level = 0\nauth_tcp = \"none\"\nlisten_tcp = 1\n",
		"etc/libvirt/virtqemud.conf":       "\n\naudit_level = 0\n",
		"etc/libvirt/virtproxyd.conf":      "tls_no_verify_certificate = 1\n",
		"etc/libvirt/qemu.conf":            "",
		"proc/net/tcp":                     "  sl  local_address rem_address   st\n",
		"proc/1/comm":                      "systemd\n",
		"etc/systemd/system/sockets.x/.ok": "",
	})
	inv := &Inventory{Root: root, Local: true}
	inv.LoadHost(context.Background())
	if inv.DriverConf.Name != "virtqemud.conf" || inv.RemoteConf.Name != "virtproxyd.conf" {
		t.Fatalf("modular host read %s and %s", inv.DriverConf.Name, inv.RemoteConf.Name)
	}
	got := failed(Run(inv, only("DAEMON-002", "DAEMON-004", "DAEMON-020"), nil))
	want := "DAEMON-004 virtproxyd.conf high\nDAEMON-020 virtqemud.conf medium"
	if strings.Join(got, "\n") != want {
		t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
	for _, f := range Run(inv, only("DAEMON-020"), nil) {
		if f.Location == nil || f.Location.File != "/etc/libvirt/virtqemud.conf" || f.Location.Line != 3 {
			t.Errorf("DAEMON-020 location %+v", f.Location)
		}
	}
	// libvirtd running makes it a monolithic host again.
	write(t, root, map[string]string{"proc/77/comm": "libvirtd\n"})
	inv = &Inventory{Root: root, Local: true}
	inv.LoadHost(context.Background())
	if inv.DriverConf.Name != "libvirtd.conf" {
		t.Errorf("libvirtd runs, but %s was read", inv.DriverConf.Name)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/libvirt/libvirtd.conf")); err != nil {
		t.Fatal(err)
	}
}

// listen_tcp = 1 with auth_tcp = "none" is critical only when TCP really listens: a socket on
// the port, or an enabled -tcp.socket unit (which ignores listen_tcp altogether).
func TestTCPListenerLatentOrOpen(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"proc/net/tcp": "  sl  local_address rem_address   st\n"})
	c := conf(t, "libvirtd.conf", "listen_tcp = 1\nauth_tcp = \"none\"\n")
	inv := &Inventory{Root: root, Local: true, RemoteConf: c}
	if got := strings.Join(failed(Run(inv, only("DAEMON-001", "DAEMON-002"), nil)), ","); got != "DAEMON-001 libvirtd.conf low,DAEMON-002 libvirtd.conf high" {
		t.Errorf("nothing listens: %s", got)
	}
	for _, f := range Run(inv, only("DAEMON-002"), nil) {
		if !strings.HasPrefix(f.Detail, "latent") {
			t.Errorf("detail %q", f.Detail)
		}
	}
	// The socket unit listens, whatever listen_tcp says.
	write(t, root, map[string]string{"etc/systemd/system/sockets.target.wants/libvirtd-tcp.socket": ""})
	inv.RemoteConf = conf(t, "libvirtd.conf", "auth_tcp = \"none\"\n")
	if got := strings.Join(failed(Run(inv, only("DAEMON-001", "DAEMON-002"), nil)), ","); got != "DAEMON-001 libvirtd.conf high,DAEMON-002 libvirtd.conf critical" {
		t.Errorf("socket unit enabled: %s", got)
	}
}

// The parser never panics, reports errors with a line inside the file, and a value it parsed
// parses again from its raw text to the same value (what findings quote is what was read).
func FuzzParseConf(f *testing.F) {
	for _, seed := range []string{
		"user = \"root\"\n", "security_driver = [ \"selinux\",\n 'none', ]\n", "a = 1; b = -2 # c\n",
		"s = \"\"\"multi\nline\"\"\"\n", "a = [ [ 1, 2 ], \"x\" ]\n", "a = [\n\"x\", # c\n]\n", "\n\n# only\n", "a = '", "=",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseConf("/etc/libvirt/x.conf", []byte(text))
		if err != nil {
			var se *ConfSyntaxError
			if !errors.As(err, &se) || se.Line < 1 || se.Line > strings.Count(text, "\n")+1 {
				t.Fatalf("%q: %v", text, err)
			}
			return
		}
		for _, e := range c.entries {
			again, err := ParseConf("/etc/libvirt/x.conf", []byte("k = "+e.value.Raw+"\n"))
			if err != nil {
				t.Fatalf("%q: %s = %s does not parse again: %v", text, e.key, e.value.Raw, err)
			}
			v, _ := again.Lookup("k")
			if !sameValue(v, e.value) {
				t.Fatalf("%q: %s = %s parsed again as %+v, was %+v", text, e.key, e.value.Raw, v, e.value)
			}
		}
	})
}

func sameValue(a, b ConfValue) bool {
	if a.Type != b.Type || a.Str != b.Str || a.Int != b.Int || len(a.List) != len(b.List) {
		return false
	}
	for i := range a.List {
		if !sameValue(a.List[i], b.List[i]) {
			return false
		}
	}
	return true
}
