package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/spf13/cobra"
)

func TestNewCmdCp(t *testing.T) {
	runFlagCases(t, "cp", func(f *cmdutil.Factory, r func(context.Context, *CpOptions) error) *cobra.Command {
		return NewCmdCp(f, r)
	},
		func(o *CpOptions) string {
			return fmt.Sprintf("vm=%s to_guest=%v local=%s guest=%s force=%v timeout=%s", o.VM, o.ToGuest, o.Local, o.GuestPath, o.Force, o.Timeout)
		}, []flagCase{
			{argv: []string{"app.conf", "web01:/etc/app/"}, want: "vm=web01 to_guest=true local=app.conf guest=/etc/app/ force=false timeout=1h0m0s"},
			{argv: []string{"web01:/var/log/syslog", ".", "--force", "--timeout", "5m"}, want: "vm=web01 to_guest=false local=. guest=/var/log/syslog force=true timeout=5m0s"},
			{argv: []string{"-f", "./a:b", "web01:/tmp/a:b"}, want: "vm=web01 to_guest=true local=./a:b guest=/tmp/a:b force=true timeout=1h0m0s"},
			{argv: []string{"/srv/x:y", "db:/x"}, want: "vm=db to_guest=true local=/srv/x:y guest=/x force=false timeout=1h0m0s"},
			{argv: []string{"a", "b"}, err: errs.Usage},                 // no guest side
			{argv: []string{"web01:/a", "db01:/b"}, err: errs.Usage},    // two guests
			{argv: []string{"file", "web01:tmp/x"}, err: errs.Usage},    // relative guest path
			{argv: []string{"file", "web01:"}, err: errs.Usage},         // no guest path
			{argv: []string{"web01:/etc/hosts"}, err: errs.Usage},       // one argument
			{argv: []string{"web01:/etc/hosts", ""}, err: errs.Usage},   // empty host path
			{argv: []string{"x", "web01:/a", "extra"}, err: errs.Usage}, // three
		})
}

// A guest file lands in a host directory under its own name; an existing file is replaced
// only with --force; a missing directory is not found.
func TestLocalTarget(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "old")
	if err := os.WriteFile(existing, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		dst   string
		force bool
		want  string
		kind  errs.Kind
	}{
		{dir, false, filepath.Join(dir, "syslog"), 0},
		{dir + "/", false, filepath.Join(dir, "syslog"), 0},
		{filepath.Join(dir, "new"), false, filepath.Join(dir, "new"), 0},
		{existing, false, "", errs.Conflict},
		{existing, true, existing, 0},
		{filepath.Join(dir, "nodir", "x"), false, "", errs.NotFound},
		{filepath.Join(dir, "nodir") + "/", false, "", errs.NotFound},
	}
	for _, c := range cases {
		got, err := localTarget(c.dst, "syslog", c.force)
		switch {
		case c.kind != 0 && errs.KindOf(err) != c.kind:
			t.Errorf("%s: %q, %v; want a %v error", c.dst, got, err, c.kind)
		case c.kind == 0 && (err != nil || got != c.want):
			t.Errorf("%s: %q, %v; want %q", c.dst, got, err, c.want)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "syslog"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := localTarget(dir, "syslog", true); errs.KindOf(err) != errs.Conflict {
		t.Errorf("a directory in the way: %v", err)
	}
}
