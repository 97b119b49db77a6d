package cmdutil

import (
	"context"
	"time"

	"github.com/spf13/cobra"
)

// CompletionTimeout bounds what a shell's <TAB> may wait for (libvirt, a remote store), so a
// dead daemon cannot freeze the shell.
const CompletionTimeout = 3 * time.Second

// VMNameCompletions lists the VMs of the connected host for a completion, read-only; on any
// failure nothing and the error directive.
func VMNameCompletions(ctx context.Context, f *Factory) ([]string, cobra.ShellCompDirective) {
	conn, err := f.Connect(ctx, true)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	defer conn.Close()
	names, err := conn.DomainNames(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
