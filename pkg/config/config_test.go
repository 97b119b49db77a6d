package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/spf13/pflag"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	sys := write(t, dir, "etc/config.toml", "uri = \"test:///system-file\"\n[vm.defaults]\nvcpus = 2\nmemory = \"2GiB\"\n")
	write(t, dir, "xdg/hvctl/config.toml", "[vm.defaults]\nmemory = \"4GiB\"\n[hosts.lab]\nuri = \"qemu+ssh://lab/system\"\n")
	vars := map[string]string{"HVCTL_SYSTEM_CONFIG": sys, "XDG_CONFIG_HOME": filepath.Join(dir, "xdg")}

	l, err := Load(Options{Getenv: env(vars), UID: 1000})
	if err != nil {
		t.Fatal(err)
	}
	c := l.Config
	if c.URI != "test:///system-file" || c.VM.Defaults.VCPUs != 2 || c.VM.Defaults.Memory != "4GiB" || c.VM.Defaults.DomainType != "auto" {
		t.Errorf("layering wrong: %+v", c)
	}
	src := map[string]string{}
	for _, s := range l.Settings {
		src[s.Key] = s.Source
	}
	if src["vm.defaults.vcpus"] != sys || !strings.HasSuffix(src["vm.defaults.memory"], "xdg/hvctl/config.toml") || src["paths.images"] != "default" {
		t.Errorf("sources wrong: %v", src)
	}

	vars["LIBVIRT_DEFAULT_URI"] = "test:///libvirt-env"
	l, _ = Load(Options{Getenv: env(vars)})
	if l.Config.URI != "test:///libvirt-env" {
		t.Errorf("LIBVIRT_DEFAULT_URI should beat the file: %s", l.Config.URI)
	}
	vars["HVCTL_URI"] = "lab"
	vars["HVCTL_VM_DEFAULTS_VCPUS"] = "8"
	l, _ = Load(Options{Getenv: env(vars)})
	if l.Config.URI != "qemu+ssh://lab/system" || l.Config.VM.Defaults.VCPUs != 8 {
		t.Errorf("env or host alias not applied: %+v", l.Config)
	}

	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.StringP("connect", "c", "", "")
	_ = fs.Parse([]string{"-c", "test:///default"})
	l, _ = Load(Options{Getenv: env(vars), Flags: fs})
	if l.Config.URI != "test:///default" {
		t.Errorf("flag should win: %s", l.Config.URI)
	}
}

func TestFallbackURI(t *testing.T) {
	e := env(map[string]string{"HVCTL_SYSTEM_CONFIG": "/nonexistent", "HOME": "/nonexistent"})
	for uid, want := range map[int]string{0: "qemu:///system", 1000: "qemu:///session"} {
		l, err := Load(Options{Getenv: e, UID: uid})
		if err != nil || l.Config.URI != want {
			t.Errorf("uid %d: %v %v", uid, l, err)
		}
	}
}

func TestStrictErrors(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"uri = \"x\"\n[vm.defaults]\nvcpus = 1\nmemroy = \"1G\"\n": "bad.toml:4:1: unknown key \"vm.defaults.memroy\"",
		"uri = \n":                               "bad.toml:1:",
		"[vm.defaults]\ndomain_type = \"xen\"\n": "domain_type",
		"[vm.defaults]\nmemory = \"lots\"\n":     "invalid size",
		"[hosts.\"bad name\"]\nuri = \"x\"\n":    "not a valid name",
		// A value of the wrong type is said with its key and TOML's words, no Go type names.
		"[vm.defaults]\nvcpus = \"two\"\n":     "bad.toml:2:9: vm.defaults.vcpus must be an integer, not a string",
		"[paths]\nisos = 5\n":                  "bad.toml:2:8: paths.isos must be a string, not an integer",
		"[hosts.lab]\nuri = [\"a\"]\n":         "bad.toml:2:7: hosts.lab.uri must be a string, not an array",
		"[groups]\nweb = \"lab\"\n":            "bad.toml:2:7: groups.web must be an array, not a string",
		"[metrics]\nretention = \"forever\"\n": "bad.toml:2:1: metrics.retention: ",
		"[metrics]\nretention = \"0d\"\n":      "metrics.retention",
		// A span past time.Duration's range is said to be too long, not "not a positive duration".
		"[metrics]\nretention = \"200000d\"\n":                                      `bad.toml:2:1: metrics.retention: "200000d" is too long: at most 292 years`,
		"[metrics]\nmax_rows = -1\n":                                                "metrics.max_rows",
		"[hosts.h1]\nuri = \"test:///default\"\n[groups]\nweb = [\"h1\", \"h9\"]\n": `bad.toml:4:1: groups.web: group "web" names "h9", which is not in [hosts]`,
		"[hosts.h1]\nuri = \"test:///default\"\n[groups]\nall = [\"h1\"]\n":         `bad.toml:4:1: groups.all: "all" already means every host`,
		"[hosts.h1]\nuri = \"test:///default\"\n[groups]\nh1 = [\"h1\"]\n":          `bad.toml:4:1: groups.h1: "h1" is both a host and a group`,
		"[hosts.h1]\nuri = \"test:///default\"\n[groups]\nweb = []\n":               `bad.toml:4:1: groups.web: group "web" has no hosts`,
		"[hosts.h1]\nuri = \"\"\n":                                                  "bad.toml:2:1: hosts.h1.uri: host \"h1\" has no uri",
	}
	for body, want := range cases {
		p := write(t, dir, "bad.toml", body)
		_, err := Load(Options{File: p, Getenv: env(nil)})
		if err == nil || !strings.Contains(err.Error(), want) || errs.KindOf(err) != errs.Usage {
			t.Errorf("body %q: got %v, want containing %q (usage)", body, err, want)
		}
	}
	_, err := Load(Options{File: filepath.Join(dir, "missing.toml"), Getenv: env(nil)})
	if err == nil || errs.KindOf(err) != errs.Usage {
		t.Errorf("missing explicit file: %v", err)
	}
}

func TestMetricsDefaultsAndOverride(t *testing.T) {
	l, err := Load(Options{Getenv: env(map[string]string{"HVCTL_SYSTEM_CONFIG": "/nonexistent", "HOME": "/nonexistent"})})
	if err != nil || l.Config.Metrics.Retention != "30d" || l.Config.Metrics.MaxRows != 2000000 {
		t.Fatalf("defaults: %+v, %v", l.Config.Metrics, err)
	}
	p := write(t, t.TempDir(), "c.toml", "[metrics]\nretention = \"2w\"\nmax_rows = 0\n")
	l, err = Load(Options{File: p, Getenv: env(map[string]string{"HVCTL_METRICS_RETENTION": "12h"})})
	if err != nil || l.Config.Metrics.Retention != "12h" || l.Config.Metrics.MaxRows != 0 {
		t.Fatalf("file then env: %+v, %v", l.Config.Metrics, err)
	}
	// A bad value from the environment names the variable, not the file's line it overrode.
	_, err = Load(Options{File: p, Getenv: env(map[string]string{"HVCTL_METRICS_RETENTION": "forever"})})
	if err == nil || !strings.Contains(err.Error(), "config metrics.retention (from env HVCTL_METRICS_RETENTION)") {
		t.Fatalf("bad env over file: %v", err)
	}
}

// Several mistakes in one file: the same one (the first group by name) is named on every run,
// not whichever Go's map order gives.
func TestSeveralBadGroupsSameErrorEachRun(t *testing.T) {
	p := write(t, t.TempDir(), "bad.toml", "[hosts.h1]\nuri = \"test:///default\"\n[groups]\nzz = [\"h9\"]\nall = [\"h1\"]\nmm = []\n")
	for range 30 {
		_, err := Load(Options{File: p, Getenv: env(nil)})
		if err == nil || !strings.Contains(err.Error(), `"all" already means every host`) {
			t.Fatalf("got %v, want the error about group all (first by name)", err)
		}
	}
}
