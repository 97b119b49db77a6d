package guestagent

import (
	"fmt"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

// Disabled is the error of a command the guest's agent refuses by policy (qemu-ga's
// --block-rpcs or --allow-rpcs: RHEL and its rebuilds ship guest-exec and guest-file-* blocked).
// It is a permission denial (exit 7) naming the command and how to allow it.
func Disabled(vm string, commands ...string) error {
	list := strings.Join(commands, ", ")
	what := "command"
	if len(commands) > 1 {
		what = "commands"
	}
	return errs.New(errs.Unreachable, "the guest agent of %s refuses %s: disabled by its policy in the guest", vm, list).
		WithHint("allow the %s in the guest: take %s out of qemu-ga's --block-rpcs (BLOCK_RPCS, or FILTER_RPC_ARGS in /etc/sysconfig/qemu-ga) or add %s to its --allow-rpcs, then restart qemu-guest-agent", what, list, list)
}

// IsDisabledMessage says whether an agent's error text is its refusal of a disabled command
// ("Command guest-exec has been disabled", "… has been disabled for this instance").
func IsDisabledMessage(msg string) bool { return strings.Contains(msg, "has been disabled") }

// NotConnected is the error of a VM whose agent is not there (exit 11).
func NotConnected(vm string) error {
	return errs.New(errs.NoAgent, "the guest agent of %s is not connected", vm).
		WithHint("is qemu-guest-agent installed and running in the guest? 'vmctl wait %s --for agent' waits for it", vm)
}

// NotConfigured is the error of a VM without the agent's channel (exit 11).
func NotConfigured(vm string) error {
	return errs.New(errs.NoAgent, "%s has no guest agent channel (org.qemu.guest_agent.0)", vm).
		WithHint("VMs made by hvctl have one; add a <channel type='unix'> with target name org.qemu.guest_agent.0 to others, then restart them")
}

// SignalName is sig as people read it: 9 (SIGKILL).
func SignalName(sig int) string {
	names := map[int]string{1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 6: "SIGABRT", 8: "SIGFPE", 9: "SIGKILL",
		11: "SIGSEGV", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM"}
	if n, ok := names[sig]; ok {
		return fmt.Sprintf("%d (%s)", sig, n)
	}
	return fmt.Sprint(sig)
}
