// Package vm implements the vmctl tree: VM lifecycle over libvirt. Each verb is a constructor
// NewCmdX(f, runF) with an XOptions struct; runF lets tests check flag parsing alone.
package vm

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// NewCmdVM builds the vm tree (vmctl).
func NewCmdVM(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "vm",
		Aliases: []string{"vmctl"},
		Short:   "Manage the lifecycle of virtual machines",
		Long: `Manage virtual machines: list and inspect them, start, stop, restart, pause, delete,
wait for them to boot or get an address, and attach to their serial console.

Lifecycle verbs take several names, shell-style globs ('web-*') or --all, run up to
--parallel at once, and report one result per VM.`,
	}
	cmd.AddCommand(
		NewCmdList(f, nil), NewCmdShow(f, nil),
		NewCmdStart(f, nil), NewCmdStop(f, nil), NewCmdKill(f, nil), NewCmdRestart(f, nil), NewCmdReboot(f, nil),
		NewCmdPause(f, nil), NewCmdResume(f, nil), NewCmdAutostart(f, nil), NewCmdDelete(f, nil),
		NewCmdWait(f, nil), NewCmdIP(f, nil), NewCmdXML(f, nil), NewCmdConsole(f, nil),
		NewCmdProfile(f), NewCmdCreate(f, nil), NewCmdSnapshot(f), NewCmdClone(f, nil),
		NewCmdDiff(f, nil), NewCmdApply(f, nil), NewCmdGC(f, nil), NewCmdStats(f, nil),
		NewCmdPool(f), NewCmdVolume(f), NewCmdSave(f, nil), NewCmdRestore(f, nil),
		NewCmdDisk(f), NewCmdNIC(f),
		NewCmdMigrate(f, nil),
	)
	cmd.AddCommand(NewCmdRename(f, nil), NewCmdScreenshot(f, nil), NewCmdSSH(f, nil))
	cmd.AddCommand(NewCmdExec(f, nil))
	cmd.AddCommand(NewCmdGuest(f), NewCmdCp(f, nil))
	cmd.AddCommand(NewCmdTop(f, nil))
	cmd.AddCommand(NewCmdEvacuate(f, nil))
	cmd.AddCommand(NewCmdEvents(f, nil))
	return cmd
}

// completeVMs completes VM names from the connected host, bounded so a dead daemon cannot
// freeze the shell.
func completeVMs(f *cmdutil.Factory, many bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if !many && len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), cmdutil.CompletionTimeout)
		defer cancel()
		names, directive := cmdutil.VMNameCompletions(ctx, f)
		if directive&cobra.ShellCompDirectiveError != 0 {
			return nil, directive
		}
		taken := map[string]bool{}
		for _, a := range args {
			taken[a] = true
		}
		var out []string
		for _, n := range names {
			if !taken[n] {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// withDomain connects, looks name up, and runs fn.
func withDomain(ctx context.Context, f *cmdutil.Factory, name string, readOnly bool, fn func(*virt.Domain) error) error {
	if err := cmdutil.ValidateLookupName("VM", name); err != nil {
		return err
	}
	conn, err := f.Connect(ctx, readOnly)
	if err != nil {
		return err
	}
	defer conn.Close()
	d, err := conn.Domain(ctx, name)
	if err != nil {
		return err
	}
	defer d.Free()
	return fn(d)
}
