package app

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmd/auditcmd"
	"github.com/hyper-nixos/hvctl/pkg/cmd/configcmd"
	"github.com/hyper-nixos/hvctl/pkg/cmd/historycmd"
	"github.com/hyper-nixos/hvctl/pkg/cmd/isocmd"
	"github.com/hyper-nixos/hvctl/pkg/cmd/metricscmd"
	"github.com/hyper-nixos/hvctl/pkg/cmd/netcmd"
	"github.com/hyper-nixos/hvctl/pkg/cmd/versioncmd"
	"github.com/hyper-nixos/hvctl/pkg/cmd/vm"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// ExitCodesHelp is the exit status table shown in help and man pages.
func ExitCodesHelp() string {
	var b strings.Builder
	b.WriteString("Exit status:\n")
	b.WriteString("  0    success (an empty list is success)\n")
	for _, k := range errs.Kinds() {
		fmt.Fprintf(&b, "  %-4d %s\n", k.ExitCode(), k.Describe())
	}
	return b.String()
}

func trees(f *cmdutil.Factory) map[string]*cobra.Command {
	return map[string]*cobra.Command{
		"vm":    vm.NewCmdVM(f),
		"iso":   isocmd.NewCmdISO(f),
		"net":   netcmd.NewCmdNet(f),
		"audit": auditcmd.NewCmdAudit(f),
	}
}

// NewRoot builds the command tree for prog: the whole of hvctl, or one subtree when invoked
// through a link named vmctl, isoctl, netctl or auditctl.
func NewRoot(f *cmdutil.Factory, prog string) *cobra.Command { return newRoot(f, prog, nil) }

// newRoot is NewRoot with the journal's recorder (nil: nothing is journaled, as for gen-docs).
func newRoot(f *cmdutil.Factory, prog string, rec *recorder) *cobra.Command {
	t := trees(f)
	var root *cobra.Command
	if tree := treeOf(prog); tree != "" {
		root = t[tree]
		root.Use = prog
		root.Aliases = nil
		root.Long = strings.TrimSpace(root.Long) + fmt.Sprintf("\n\n%s is hvctl's %s tree: '%s X' is the same as 'hvctl %s X'.", prog, tree, prog, tree)
		root.AddCommand(versioncmd.NewCmdVersion(f, nil))
	} else {
		root = &cobra.Command{
			Use:   "hvctl",
			Short: "Manage libvirt virtual machines, install media, networks and audits",
			Long: `hvctl manages virtual machines on libvirt hosts: VM lifecycle (vm), install media and
cloud-init seeds (iso), libvirt networks (net) and security audits (audit).

Linked or copied under the name vmctl, isoctl, netctl or auditctl, the binary runs that
tree directly.`,
			Example: `  hvctl vm list
  hvctl -c test:///default vm list --json
  vmctl start 'web-*' --parallel 8
  vmctl wait web01 --for ip --timeout 2m`,
		}
		for _, name := range []string{"vm", "iso", "net", "audit"} {
			root.AddCommand(t[name])
		}
		root.AddCommand(versioncmd.NewCmdVersion(f, nil), configcmd.NewCmdConfig(f), newLinksCmd(), metricscmd.NewCmdMetrics(f, nil))
		root.AddCommand(historycmd.NewCmdHistory(f, nil))
	}
	root.Long = strings.TrimSpace(root.Long) + "\n\n" + ExitCodesHelp()
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.CompletionOptions.HiddenDefaultCmd = false
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		// A group reached with a word that is none of its subcommands (vmctl suspend --all):
		// the word is the mistake, not the flag after it, which a real subcommand may have.
		if c.HasSubCommands() && c.Args != nil {
			if words := c.Flags().Args(); len(words) > 0 {
				if e := c.Args(c, words); e != nil {
					return e
				}
			}
		}
		var own *errs.Error // a flag value's own message (cmdutil's enum flags) says it all
		if errors.As(err, &own) {
			return own
		}
		return flagValueError(err)
	})
	root.Version = versioncmd.String()
	root.SetVersionTemplate(prog + " {{.Version}}\n")
	rejectUnknownSubcommands(root)
	refuseEmptyFlagValues(root)
	rejectUnknownHelpTopics(root)
	exampleGroups(root)
	help := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		cmdutil.ShowTimeoutDefault(c)
		help(c, args)
	})

	g := f.Global
	pf := root.PersistentFlags()
	g.Flags = pf
	pf.StringVarP(&g.Connect, "connect", "c", "", "libvirt `URI` or a host name from the config's [hosts] table")
	pf.BoolVarP(&g.Quiet, "quiet", "q", false, "print no messages on stderr: only errors and the data asked for (--json, --jq and tables still print)")
	pf.DurationVar(&g.Timeout, "timeout", 0, "bound the command, libvirt calls included, to `DURATION`")
	pf.StringVar(&g.ConfigFile, "config", "", "configuration `FILE` instead of /etc/hvctl/config.toml and $XDG_CONFIG_HOME/hvctl/config.toml")
	_ = root.RegisterFlagCompletionFunc("connect", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		out := []string{"qemu:///system", "qemu:///session", "test:///default"}
		if l, err := f.Config(); err == nil {
			for name := range l.Config.Hosts {
				out = append(out, name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	})

	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if g.Quiet {
			f.IO.Quiet = true
		}
		// A command that renders some -o formats itself (cmdutil.AnnFormats) checks those.
		if own := cmd.Annotations[cmdutil.AnnFormats]; cmdutil.HasOutputFlags(cmd) && (g.Output == "" || !slices.Contains(strings.Split(own, ","), g.Output)) {
			if _, err := f.Format(); err != nil {
				if own != "" && g.Output != "" && !slices.Contains(output.Kinds, g.Output) {
					// Name the command's own formats too (auditctl run: sarif, junit), as -o's help does.
					return errs.New(errs.Usage, "-o/--output %q: want one of %s", g.Output,
						strings.Join(append(slices.Clone(output.Kinds), strings.Split(own, ",")...), ", "))
				}
				return err
			}
		}
		if d, ok := f.EffectiveTimeout(cmd); ok {
			if d <= 0 {
				return errs.New(errs.Usage, "--timeout must be positive")
			}
			if s, ok := cmd.Annotations[cmdutil.AnnSlack]; ok {
				if extra, err := time.ParseDuration(s); err == nil {
					d += extra
				}
			}
			ctx, cancel := virt.WithTimeout(cmd.Context(), d)
			cobra.OnFinalize(cancel)
			cmd.SetContext(ctx)
		}
		cmd.SetContext(rec.begin(cmd, args)) // the operations journal, for commands that change something
		return nil
	}
	return root
}

// rejectUnknownSubcommands makes every group command (one with subcommands and nothing to run
// of its own) refuse an argument that names no subcommand: `vmctl snapshot prnue web01` exits
// 2 with a suggestion instead of printing help and succeeding, which would hide the typo in a
// timer unit. Run without arguments, a group still prints its help.
func rejectUnknownSubcommands(c *cobra.Command) {
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.SuggestionsMinimumDistance = 2 // cobra applies its default only on its own path
		c.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			e := errs.New(errs.Usage, "unknown command \"%s\" for \"%s\"", output.Escape(args[0]), cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				for i := range s {
					s[i] = "'" + cmd.CommandPath() + " " + s[i] + "'"
				}
				return e.WithHint("did you mean %s?", strings.Join(s, " or "))
			}
			return e.WithHint("see '%s --help'", cmd.CommandPath())
		}
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	for _, sub := range c.Commands() {
		rejectUnknownSubcommands(sub)
	}
}

// rejectUnknownHelpTopics makes `vmctl help strat` exit 2 like `vmctl strat`, instead of cobra's
// "Unknown help topic" with exit 0; the help command and its completion stay cobra's.
func rejectUnknownHelpTopics(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	i := slices.IndexFunc(root.Commands(), func(c *cobra.Command) bool { return c.Name() == "help" })
	if i < 0 {
		return
	}
	help := root.Commands()[i]
	show := help.Run
	help.Run = nil
	help.RunE = func(c *cobra.Command, args []string) error {
		cmd, rest, err := c.Root().Find(args)
		if err == nil && len(rest) > 0 && cmd.HasSubCommands() {
			err = cmd.Args(cmd, rest) // the group's own "unknown command … did you mean"
		}
		if err != nil {
			return err
		}
		show(c, args)
		return nil
	}
}

// exampleGroups gives every group command without examples of its own the first example of
// each subcommand, so that every help text and man page shows one.
func exampleGroups(c *cobra.Command) {
	for _, sub := range c.Commands() {
		exampleGroups(sub)
	}
	if !c.HasSubCommands() || c.Example != "" {
		return
	}
	var lines []string
	for _, sub := range c.Commands() {
		if sub.Hidden || !sub.IsAvailableCommand() || sub.Example == "" {
			continue
		}
		first, _, _ := strings.Cut(strings.TrimLeft(sub.Example, "\n"), "\n")
		lines = append(lines, first)
	}
	c.Example = strings.Join(lines, "\n")
}

func newLinksCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "__links",
		Short:  "Print the names the binary answers to, for packaging",
		Hidden: true,
		Args:   cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, l := range Links {
				fmt.Fprintln(cmd.OutOrStdout(), l.Name)
			}
			return nil
		},
	}
}
