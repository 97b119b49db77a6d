package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"github.com/spf13/cobra"
)

func TestNewCmdSSH(t *testing.T) {
	runFlagCases(t, "ssh", func(f *cmdutil.Factory, r func(context.Context, *SSHOptions) error) *cobra.Command {
		return NewCmdSSH(f, r)
	}, func(o *SSHOptions) string {
		return fmt.Sprintf("%s user=%s src=%v args=%q", o.VM, o.User, o.Sources, o.Args)
	}, []flagCase{
		{argv: []string{"web01"}, want: `web01 user= src=[lease agent arp] args=[]`},
		{argv: []string{"web01", "-l", "root", "--source", "agent", "--", "-i", "k", "uptime", "-a"}, want: `web01 user=root src=[agent] args=["-i" "k" "uptime" "-a"]`},
		{argv: []string{"web01", "uptime"}, err: errs.Usage}, // a command needs --
		{argv: []string{"--", "uptime"}, err: errs.Usage},
		{argv: []string{}, err: errs.Usage},
		{argv: []string{"web01", "--user", "bad user"}, err: errs.Usage},
	})
}

func TestSSHArgs(t *testing.T) {
	for _, tc := range []struct {
		user  string
		extra []string
		want  string
	}{
		{"", nil, "ssh -o HostKeyAlias=web01 10.0.0.5"},
		{"ops", []string{"uptime", "-a"}, "ssh -o HostKeyAlias=web01 ops@10.0.0.5 uptime -a"},
		{"ops", []string{"-i", "key", "-A", "-oBatchMode=yes", "ls", "-l"}, "ssh -o HostKeyAlias=web01 -i key -A -oBatchMode=yes ops@10.0.0.5 ls -l"},
		{"ops", []string{"-t", "--", "-weird"}, "ssh -o HostKeyAlias=web01 -t ops@10.0.0.5 -weird"},
	} {
		if got := strings.Join(sshArgs("web01", tc.user, "10.0.0.5", tc.extra), " "); got != tc.want {
			t.Errorf("%q %q:\n got %s\nwant %s", tc.user, tc.extra, got, tc.want)
		}
	}
}

// ssh waits for the address (the test driver's running VM has one), takes the user from the
// cloud-init of the profile hvctl's metadata names, and execs ssh with them.
func TestSSHExecsWithProfileUser(t *testing.T) {
	c := virttest.Open(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "t-ssh.toml"), []byte("name = \"t-ssh\"\nmemory = \"256MiB\"\n[disk]\nsize = \"1GiB\"\n[cloud_init]\nuser = \"ops\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	virttest.Define(t, c, fmt.Sprintf(`<domain type='test'><name>t-ssh</name><memory>65536</memory><os><type>hvm</type></os>
<metadata><hvctl:vm xmlns:hvctl='%s'><hvctl:profile>t-ssh</hvctl:profile></hvctl:vm></metadata>
<devices><interface type='network'><mac address='52:54:00:aa:bb:cc'/><source network='default'/></interface></devices></domain>`, domainxml.Namespace))
	d, err := c.Domain(context.Background(), "t-ssh")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	if _, err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addrs, err := d.Addresses(context.Background(), AddressSources)
	if err != nil || len(addrs) == 0 {
		t.Fatalf("the test driver gives no address: %v", err)
	}
	f, _, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(map[string]string{"HVCTL_PATHS_PROFILES": dir}))
	var gotPath string
	var gotArgv []string
	o := &SSHOptions{F: f, VM: "t-ssh", Sources: AddressSources, Args: []string{"uptime"},
		LookPath: func(string) (string, error) { return "/usr/bin/ssh", nil },
		Exec:     func(path string, argv, _ []string) error { gotPath, gotArgv = path, argv; return nil }}
	if err := runSSH(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	want := "ssh -o HostKeyAlias=t-ssh ops@" + pickAddress(addrs) + " uptime"
	if filepath.Base(gotPath) != "ssh" || strings.Join(gotArgv, " ") != want {
		t.Errorf("exec %s %q, want %s", gotPath, gotArgv, want)
	}
	o.User = "root"
	if err := runSSH(context.Background(), o); err != nil || !strings.Contains(strings.Join(gotArgv, " "), " root@") {
		t.Errorf("--user: %v %q", err, gotArgv)
	}
}
