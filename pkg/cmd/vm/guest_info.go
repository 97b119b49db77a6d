package vm

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// GuestInfoOptions of `vm guest info`.
type GuestInfoOptions struct {
	F    *cmdutil.Factory
	Name string
}

// NewCmdGuestInfo builds `vm guest info`.
func NewCmdGuestInfo(f *cmdutil.Factory, runF func(context.Context, *GuestInfoOptions) error) *cobra.Command {
	opts := &GuestInfoOptions{F: f}
	cmd := &cobra.Command{
		Use:   "info NAME",
		Short: "Show what the guest agent reports: OS, hostname, timezone, users, file systems, interfaces",
		Long: `Show what qemu-guest-agent reports about the running guest (libvirt's GetGuestInfo):
its OS (os-release and kernel), hostname, timezone, logged-in users, mounted file systems
with used and total bytes, and network interfaces with their addresses. What the agent
does not support is left empty.`,
		Example:           "  vmctl guest info web01\n  vmctl guest info web01 --jq '.file_systems[] | select(.mountpoint == \"/\") | .used_bytes'",
		Args:              cmdutil.ExactArgs(1, "one VM name"),
		ValidArgsFunction: completeVMs(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runGuestInfo(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runGuestInfo(ctx context.Context, o *GuestInfoOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var gi *model.GuestInfo
	// libvirt refuses agent calls on read-only connections, reads included.
	err = withDomain(ctx, o.F, o.Name, false, func(d *virt.Domain) error {
		gi, err = d.GuestInfo(ctx)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "guest info %s", o.Name)
	}
	return output.Object(o.F.IO.Out, format, gi, guestInfoPairs(gi))
}

// guestInfoPairs is the table view: one line per fact, one per file system and interface.
func guestInfoPairs(g *model.GuestInfo) [][2]string {
	osName := g.OS.PrettyName
	if osName == "" {
		osName = strings.TrimSpace(g.OS.Name + " " + g.OS.Version)
	}
	kernel := strings.TrimSpace(g.OS.KernelRelease + " " + g.OS.Machine)
	tz := g.Timezone
	if g.TimezoneOffsetSeconds != nil {
		off := *g.TimezoneOffsetSeconds
		sign := "+"
		if off < 0 {
			sign, off = "-", -off
		}
		tz = strings.TrimSpace(fmt.Sprintf("%s (UTC%s%02d:%02d)", tz, sign, off/3600, off%3600/60))
	}
	var users []string
	for _, u := range g.Users {
		s := u.Name
		if u.Domain != "" {
			s = u.Domain + `\` + s
		}
		if u.LoginTime != "" {
			s += " since " + u.LoginTime
		}
		users = append(users, s)
	}
	p := [][2]string{
		{"name", g.Name}, {"hostname", output.Dash(g.Hostname)}, {"os", output.Dash(osName)},
		{"kernel", output.Dash(kernel)}, {"timezone", output.Dash(tz)}, {"users", output.Dash(strings.Join(users, ", "))},
	}
	for _, fs := range g.FileSystems {
		size := "-"
		if fs.UsedBytes != nil && fs.TotalBytes != nil {
			size = units.Human(*fs.UsedBytes) + " of " + units.Human(*fs.TotalBytes) + " used"
		}
		p = append(p, [2]string{"file system", strings.Join([]string{fs.Mountpoint, fs.Type, fs.Device, size}, "  ")})
	}
	for _, ifc := range g.Interfaces {
		var addrs []string
		for _, a := range ifc.Addresses {
			addrs = append(addrs, a.Address+"/"+strconv.Itoa(a.Prefix))
		}
		p = append(p, [2]string{"interface", strings.Join([]string{ifc.Name, output.Dash(ifc.MAC), output.Dash(strings.Join(addrs, ", "))}, "  ")})
	}
	return p
}
