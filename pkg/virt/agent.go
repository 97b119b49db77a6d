package virt

import (
	"cmp"
	"context"
	"errors"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/guestagent"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirt"
)

// agentSeconds is the agent's own timeout for one command: the time left under ctx, so that
// libvirtd stops waiting for a hung agent when hvctl does (at least a second, at most a day).
func agentSeconds(ctx context.Context) int {
	dl, ok := ctx.Deadline()
	if !ok {
		return 24 * 3600
	}
	s := math.Ceil(time.Until(dl).Seconds())
	return int(min(max(s, 1), 24*3600))
}

// AgentCommand sends one raw command to the guest agent (virDomainQemuAgentCommand) and
// returns its reply. libvirt marks the domain tainted (custom-ga-command) the first time:
// exec and cp have no typed API.
func (d *Domain) AgentCommand(ctx context.Context, cmd string) (string, error) {
	secs := agentSeconds(ctx)
	out, err := call(ctx, d.c, "guest agent of "+d.Name, func() (string, error) {
		return d.d.QemuAgentCommand(cmd, libvirt.DomainQemuAgentCommandTimeout(secs), 0)
	})
	if err != nil {
		return "", agentError(d.Name, err)
	}
	return out, nil
}

// agentCommandPrefix is how libvirt words an agent's error reply.
var agentCommandPrefix = regexp.MustCompile(`^(?:internal error: )?unable to execute QEMU agent command '([^']*)': (.*)$`)

// agentError turns libvirt's agent errors into one clear line each: no agent channel or no
// agent (exit 11), a command the agent's policy disables (exit 7, with how to allow it), an
// agent that did not answer (exit 5), a domain that is not running (exit 4); the agent's own
// failures keep their words, without libvirt's wrapping.
func agentError(vm string, err error) error {
	var le libvirt.Error
	if !errors.As(err, &le) {
		return err // a deadline or an interrupt: already hvctl's
	}
	msg := oneLine(le.Message)
	switch {
	case le.Code == libvirt.ERR_AGENT_UNRESPONSIVE || le.Code == libvirt.ERR_AGENT_UNSYNCED:
		if strings.Contains(msg, "not connected") {
			return guestagent.NotConnected(vm)
		}
		_, why, _ := strings.Cut(msg, "not responding: ")
		return errs.New(errs.NoAgent, "the guest agent of %s is not responding: %s", vm, cmp.Or(why, msg)).
			WithHint("is the guest frozen or busy? 'vmctl wait %s --for agent' waits for it", vm)
	case strings.Contains(msg, "guest agent is not configured"):
		return guestagent.NotConfigured(vm)
	case le.Code == libvirt.ERR_AGENT_COMMAND_TIMEOUT:
		return errs.New(errs.Timeout, "the guest agent of %s did not answer in time", vm).
			WithHint("raise --timeout, or check that the guest is not frozen")
	case le.Code == libvirt.ERR_OPERATION_INVALID && strings.Contains(msg, "not running"):
		return errs.New(errs.Conflict, "%s is not running", vm).WithHint("start it first: vmctl start %s", vm)
	case guestagent.IsDisabledMessage(msg):
		command := "the command"
		if m := agentCommandPrefix.FindStringSubmatch(msg); m != nil {
			command = m[1]
		}
		return guestagent.Disabled(vm, command)
	}
	if m := agentCommandPrefix.FindStringSubmatch(msg); m != nil {
		msg = m[1] + ": " + strings.TrimPrefix(m[2], "Guest agent command failed, error was ")
		return &errs.Error{Kind: errs.Failure, Msg: "guest agent of " + vm + ": " + msg, Err: err}
	}
	if strings.Contains(strings.ToLower(msg), "unable to encode message payload") {
		// libvirtd could not send the agent's reply: over its 4 MiB string limit, not a lost daemon.
		return &errs.Error{Kind: errs.Failure, Msg: "guest agent of " + vm + ": Unable to encode message payload (reply over libvirt's 4 MiB)", Err: err}
	}
	return err
}

// GuestInfo reads what the agent knows of the guest (virDomainGetGuestInfo, no taint): OS,
// hostname, timezone, users, file systems and interfaces, each left empty when unsupported.
func (d *Domain) GuestInfo(ctx context.Context) (*model.GuestInfo, error) {
	gi, err := call(ctx, d.c, "guest info of "+d.Name, func() (*libvirt.DomainGuestInfo, error) {
		// Types asked for by name fail the whole call when the agent lacks one (a guest
		// without file systems to report, an old agent); 0 asks for all it has.
		return d.d.GetGuestInfo(0, 0)
	})
	if err != nil {
		return nil, agentError(d.Name, err)
	}
	return guestInfo(d.Name, gi), nil
}

func guestInfo(vm string, gi *libvirt.DomainGuestInfo) *model.GuestInfo {
	out := &model.GuestInfo{Name: vm, Hostname: gi.Hostname, Users: []model.GuestUser{}, FileSystems: []model.GuestFS{}, Interfaces: []model.GuestInterface{}}
	if os := gi.OS; os != nil {
		out.OS = model.GuestOS{ID: os.ID, Name: os.Name, PrettyName: os.PrettyName, Version: os.Version, VersionID: os.VersionID,
			KernelRelease: os.KernelRelease, KernelVersion: os.KernelVersion, Machine: os.Machine}
	}
	if tz := gi.TimeZone; tz != nil {
		out.Timezone = tz.Name
		if tz.OffsetSet {
			off := tz.Offset
			out.TimezoneOffsetSeconds = &off
		}
	}
	for _, u := range gi.Users {
		gu := model.GuestUser{Name: u.Name, Domain: u.Domain}
		if u.LoginTimeSet && u.LoginTime > 0 {
			// libvirt gives milliseconds since the epoch.
			gu.LoginTime = time.UnixMilli(int64(u.LoginTime)).UTC().Format(time.RFC3339)
		}
		out.Users = append(out.Users, gu)
	}
	for _, fs := range gi.FileSystems {
		g := model.GuestFS{Mountpoint: fs.MountPoint, Device: fs.Name, Type: fs.FSType, Disks: []string{}}
		if fs.TotalBytesSet {
			v := fs.TotalBytes
			g.TotalBytes = &v
		}
		if fs.UsedBytesSet {
			v := fs.UsedBytes
			g.UsedBytes = &v
		}
		for _, disk := range fs.Disks {
			g.Disks = append(g.Disks, disk.Alias)
		}
		out.FileSystems = append(out.FileSystems, g)
	}
	for _, ifc := range gi.Interfaces {
		g := model.GuestInterface{Name: ifc.Name, MAC: strings.ToLower(ifc.Hwaddr), Addresses: []model.GuestAddress{}}
		for _, a := range ifc.Addrs {
			g.Addresses = append(g.Addresses, model.GuestAddress{Family: a.Type, Address: a.Addr, Prefix: int(a.Prefix)})
		}
		out.Interfaces = append(out.Interfaces, g)
	}
	return out
}

// FSTrim asks the guest to discard unused blocks on all its mounted file systems.
func (d *Domain) FSTrim(ctx context.Context) error {
	err := call0(ctx, d.c, "fstrim "+d.Name, func() error { return d.d.FSTrim("", 0, 0) })
	if err != nil {
		return agentError(d.Name, err)
	}
	return nil
}

// SetUserPassword sets user's password in the guest through the agent; crypted says the
// password is already a crypt(3) hash.
func (d *Domain) SetUserPassword(ctx context.Context, user, password string, crypted bool) error {
	var flags libvirt.DomainSetUserPasswordFlags
	if crypted {
		flags = libvirt.DOMAIN_PASSWORD_ENCRYPTED
	}
	err := call0(ctx, d.c, "set password in "+d.Name, func() error { return d.d.SetUserPassword(user, password, flags) })
	if err != nil {
		return agentError(d.Name, err)
	}
	return nil
}
