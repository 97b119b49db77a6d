package vm

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/spf13/cobra"
)

func TestNewCmdGuestInfo(t *testing.T) {
	runFlagCases(t, "guest info", func(f *cmdutil.Factory, r func(context.Context, *GuestInfoOptions) error) *cobra.Command {
		return NewCmdGuestInfo(f, r)
	},
		func(o *GuestInfoOptions) string { return o.Name }, []flagCase{
			{argv: []string{"web01"}, want: "web01"},
			{argv: []string{"web01", "--json"}, want: "web01"},
			{argv: []string{}, err: errs.Usage},
			{argv: []string{"a", "b"}, err: errs.Usage},
		})
}

func TestNewCmdGuestFSTrim(t *testing.T) {
	runFlagCases(t, "guest fstrim", func(f *cmdutil.Factory, r func(context.Context, *GuestFSTrimOptions) error) *cobra.Command {
		return NewCmdGuestFSTrim(f, r)
	},
		func(o *GuestFSTrimOptions) string { return o.Name }, []flagCase{
			{argv: []string{"web01"}, want: "web01"},
			{argv: []string{}, err: errs.Usage},
			{argv: []string{"web01", "/"}, err: errs.Usage},
		})
}

func TestNewCmdGuestPassword(t *testing.T) {
	runFlagCases(t, "guest password", func(f *cmdutil.Factory, r func(context.Context, *GuestPasswordOptions) error) *cobra.Command {
		return NewCmdGuestPassword(f, r)
	},
		func(o *GuestPasswordOptions) string {
			return fmt.Sprintf("%s %s crypted=%v", o.Name, o.User, o.Crypted)
		}, []flagCase{
			{argv: []string{"web01", "root"}, want: "web01 root crypted=false"},
			{argv: []string{"web01", "ops", "--crypted"}, want: "web01 ops crypted=true"},
			{argv: []string{"web01"}, err: errs.Usage},
			{argv: []string{"web01", "root", "s3cret"}, err: errs.Usage}, // never a password in argv
			{argv: []string{"web01", "a:b"}, err: errs.Usage},
		})
}

// The password is the first line of stdin; nothing else counts as one.
func TestReadPasswordFromPipe(t *testing.T) {
	cases := []struct {
		in, want string
		err      bool
	}{
		{"s3cret\n", "s3cret", false},
		{"s3cret", "s3cret", false},
		{"with spaces \r\nsecond line\n", "with spaces ", false},
		{"\n", "", true},
		{"", "", true},
		{strings.Repeat("x", maxPassword+1), "", true},
	}
	for _, c := range cases {
		f, _, _ := cmdutiltest.NewFactory(t, nil)
		f.IO.In = bytes.NewBufferString(c.in)
		got, err := readPassword(&GuestPasswordOptions{F: f, Name: "vm", User: "root"})
		if (err != nil) != c.err || got != c.want {
			t.Errorf("%q: got %q, %v", c.in, got, err)
		}
		if err != nil && errs.KindOf(err) != errs.Usage {
			t.Errorf("%q: %v is not a usage error", c.in, err)
		}
	}
}

func TestGuestInfoPairs(t *testing.T) {
	used, total, off := uint64(1<<30), uint64(10<<30), -18000
	g := &model.GuestInfo{Name: "web01", Hostname: "web01.lan", Timezone: "EST", TimezoneOffsetSeconds: &off,
		OS:          model.GuestOS{PrettyName: "Debian GNU/Linux 12 (bookworm)", KernelRelease: "6.1.0-57-amd64", Machine: "x86_64"},
		Users:       []model.GuestUser{{Name: "ops", LoginTime: "2026-12-03T12:00:00Z"}},
		FileSystems: []model.GuestFS{{Mountpoint: "/", Type: "ext4", Device: "vda1", UsedBytes: &used, TotalBytes: &total}},
		Interfaces:  []model.GuestInterface{{Name: "eth0", MAC: "52:54:00:aa:bb:cc", Addresses: []model.GuestAddress{{Family: "ipv4", Address: "10.0.0.5", Prefix: 24}}}},
	}
	var b strings.Builder
	for _, p := range guestInfoPairs(g) {
		b.WriteString(p[0] + "=" + p[1] + "\n")
	}
	want := `name=web01
hostname=web01.lan
os=Debian GNU/Linux 12 (bookworm)
kernel=6.1.0-57-amd64 x86_64
timezone=EST (UTC-05:00)
users=ops since 2026-12-03T12:00:00Z
file system=/  ext4  vda1  1GiB of 10GiB used
interface=eth0  52:54:00:aa:bb:cc  10.0.0.5/24
`
	if b.String() != want {
		t.Errorf("got\n%swant\n%s", b.String(), want)
	}
}
