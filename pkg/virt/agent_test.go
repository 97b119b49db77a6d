package virt

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"libvirt.org/go/libvirt"
)

// libvirt's words for each agent failure (as libvirt 9.0 and qemu-ga 7.2 give them) become
// one line with the kind a script can act on.
func TestAgentError(t *testing.T) {
	cases := []struct {
		err  libvirt.Error
		kind errs.Kind
		msg  string
	}{
		{libvirt.Error{Code: libvirt.ERR_AGENT_UNRESPONSIVE, Message: "Guest agent is not responding: QEMU guest agent is not connected"},
			errs.NoAgent, "the guest agent of web01 is not connected"},
		{libvirt.Error{Code: libvirt.ERR_AGENT_UNRESPONSIVE, Message: "Guest agent is not responding: Guest agent not available for now"},
			errs.NoAgent, "the guest agent of web01 is not responding: Guest agent not available for now"},
		{libvirt.Error{Code: libvirt.ERR_ARGUMENT_UNSUPPORTED, Message: "argument unsupported: QEMU guest agent is not configured"},
			errs.NoAgent, "web01 has no guest agent channel (org.qemu.guest_agent.0)"},
		{libvirt.Error{Code: libvirt.ERR_INTERNAL_ERROR, Message: "internal error: unable to execute QEMU agent command 'guest-exec': Command guest-exec has been disabled"},
			errs.Unreachable, "the guest agent of web01 refuses guest-exec: disabled by its policy in the guest"},
		{libvirt.Error{Code: libvirt.ERR_AGENT_COMMAND_TIMEOUT, Message: "Guest agent command timed out"},
			errs.Timeout, "the guest agent of web01 did not answer in time"},
		{libvirt.Error{Code: libvirt.ERR_OPERATION_INVALID, Message: "Requested operation is not valid: domain is not running"},
			errs.Conflict, "web01 is not running"},
		{libvirt.Error{Code: libvirt.ERR_INTERNAL_ERROR, Message: "internal error: unable to execute QEMU agent command 'guest-file-open': failed to open file '/x' (mode: 'r'): No such file or directory"},
			errs.Failure, "guest agent of web01: guest-file-open: failed to open file '/x' (mode: 'r'): No such file or directory"},
		{libvirt.Error{Code: libvirt.ERR_INTERNAL_ERROR, Message: "internal error: unable to execute QEMU agent command 'guest-exec': Guest agent command failed, error was 'Failed to execute child process “x” (No such file or directory)'"},
			errs.Failure, "guest agent of web01: guest-exec: 'Failed to execute child process “x” (No such file or directory)'"},
		// libvirtd could not send an agent reply over its 4 MiB string (exec's output): an RPC
		// error that is not a lost connection (as e2e saw: exit 7 "lost connection" before).
		{libvirt.Error{Code: libvirt.ERR_RPC, Domain: libvirt.FROM_RPC, Message: "Unable to encode message payload"},
			errs.Failure, "guest agent of web01: Unable to encode message payload (reply over libvirt's 4 MiB)"},
	}
	for _, c := range cases {
		got := agentError("web01", (&Conn{URI: "qemu:///system"}).mapError(c.err))
		if errs.KindOf(got) != c.kind || got.Error() != c.msg {
			t.Errorf("%q:\n got %v (%v)\nwant %s (%v)", c.err.Message, got, errs.KindOf(got), c.msg, c.kind)
		}
	}
	if h := errs.HintOf(agentError("web01", libvirt.Error{Code: libvirt.ERR_INTERNAL_ERROR, Message: "unable to execute QEMU agent command 'guest-fstrim': Command guest-fstrim has been disabled for this instance"})); !strings.Contains(h, "take guest-fstrim out of qemu-ga's --block-rpcs") {
		t.Errorf("hint: %s", h)
	}
}

func TestAgentSeconds(t *testing.T) {
	if s := agentSeconds(context.Background()); s != 24*3600 {
		t.Errorf("no deadline: %d", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	if s := agentSeconds(ctx); s != 3 {
		t.Errorf("2.5s left: %d", s)
	}
	past, cancel2 := context.WithTimeout(context.Background(), -1)
	defer cancel2()
	if s := agentSeconds(past); s != 1 {
		t.Errorf("past deadline: %d", s)
	}
}
