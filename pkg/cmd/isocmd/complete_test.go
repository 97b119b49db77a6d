package isocmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	isopkg "github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/spf13/cobra"
)

// Every argument that names an object completes: stored images (and the catalogue entries they
// were pulled as), VMs, catalogue entries and --store values.
func TestCompletion(t *testing.T) {
	store := t.TempDir()
	src := filepath.Join(t.TempDir(), "alpine.iso")
	if err := os.WriteFile(src, []byte("medium"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := isopkg.ImportFile(context.Background(), src, store, "", nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	complete := func(args ...string) []string {
		root := &cobra.Command{Use: "isoctl"}
		root.AddCommand(NewCmdISO(factory(t, store)))
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(append([]string{cobra.ShellCompRequestCmd, "iso"}, args...))
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if !strings.HasPrefix(l, ":") {
				got = append(got, strings.SplitN(l, "\t", 2)[0])
			}
		}
		return got
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"show", ""}, "alpine.iso"},
		{[]string{"rm", ""}, "alpine.iso"},
		{[]string{"verify", "x", ""}, "alpine.iso"},
		{[]string{"attach", ""}, "test"}, // the test driver's VM
		{[]string{"attach", "test", ""}, "alpine.iso"},
		{[]string{"eject", ""}, "test"},
		{[]string{"pull", ""}, "debian-netinst"},
		{[]string{"pull", "x", "--store", ""}, "images"},
		{[]string{"import", "x", "--store", ""}, "isos"},
	} {
		if got := complete(c.args...); !strings.Contains(" "+strings.Join(got, " ")+" ", " "+c.want+" ") {
			t.Errorf("%v: %v, want %s among them", c.args, got, c.want)
		}
	}
	if got := complete("show", "alpine.iso", ""); len(got) != 0 {
		t.Errorf("show takes one image, yet completes a second: %v", got)
	}
}
