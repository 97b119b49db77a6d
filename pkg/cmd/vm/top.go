package vm

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/top"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// TopOptions of `vm top`.
type TopOptions struct {
	F        *cmdutil.Factory
	Patterns []string
	Interval time.Duration
	Count    int
	Sort     top.SortKey
	Batch    bool
	Timeout  time.Duration // per sample
}

// NewCmdTop builds `vm top`.
func NewCmdTop(f *cmdutil.Factory, runF func(context.Context, *TopOptions) error) *cobra.Command {
	opts := &TopOptions{F: f}
	var sortBy string
	cmd := &cobra.Command{
		Use:   "top [PATTERN...]",
		Short: "Watch how busy VMs are, live, sorted by CPU, memory, disk or network",
		Long: `Show a live view of the host and its VMs, refreshed every --interval, like virt-top: the host's
CPUs, how busy they are and its memory; how many VMs run, their share of the host's CPUs and
their memory; then one line per VM with CPU% of the host and of its own vCPUs, vCPUs, memory,
disk read/write and network receive/transmit bytes per second. Patterns narrow it to the VMs
they match. Each refresh is one bulk statistics call for every VM plus two host calls.

Keys: c, m, d, n sort by CPU, memory, disk or network (the busiest first; the sorted column's
header has a *), < and > move the sort one column left or right, r reverses it, p pauses the
display, h shows the keys, Ctrl-Z suspends (until fg; not where no job-control shell could
continue it, which the status line says), q or Ctrl-C quits. A terminal too narrow for every column shows
the ones that fit; nothing wraps.

If libvirt stops answering or the connection is lost, the status line says so, the last data
stays on the screen, and the view tries again, waiting twice as long each time up to 30s.

In a pipe, with stdin not a terminal, on a terminal that cannot move the cursor (TERM=dumb),
or with --batch, --json, --jq or -o, it prints reports
exactly as 'vmctl stats --count' does, in --sort order, until interrupted or --count reports.

Exit status: 0 after q, Ctrl-C (a key in the live view) or --count refreshes; 130 after
SIGTERM, SIGHUP or SIGQUIT, and in batch mode after any signal (Ctrl-C included), as stats
--count 0.
The terminal is restored on every way out.`,
		Example: `  vmctl top
  vmctl top 'web-*' --sort memory --interval 5s
  vmctl top --batch --count 3 --sort cpu
  vmctl top --json --count 0 >> top.ndjson`,
		Annotations:       map[string]string{cmdutil.AnnTimeout: "none", cmdutil.AnnTimeoutHelp: cmdutil.ShortDuration(cmdutil.DefaultTimeout) + " per sample"},
		ValidArgsFunction: completeVMs(f, true),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			opts.Patterns = args
			if err := cmdutil.ValidatePatterns(args); err != nil {
				return err
			}
			var ok bool
			if opts.Sort, ok = top.ParseSort(sortBy); !ok {
				return errs.New(errs.Usage, "--sort %q: want one of %s", sortBy, strings.Join(top.SortNames(), ", "))
			}
			if opts.Interval <= 0 {
				return errs.New(errs.Usage, "--interval %s: want a positive duration such as 1s or 500ms", opts.Interval)
			}
			if opts.Count < 0 {
				return errs.New(errs.Usage, "--count %d: want 0 (until quit) or more", opts.Count)
			}
			if opts.Timeout, err = sampleTimeout(f); err != nil {
				return err
			}
			if f.Global.OutputFlags.JSON || f.Global.OutputFlags.JQ != "" || f.Global.OutputFlags.Output != "" {
				opts.Batch = true
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runTop(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Interval, "interval", time.Second, "wait `DURATION` between refreshes")
	cmd.Flags().IntVar(&opts.Count, "count", 0, "stop after `N` refreshes or reports (0: until quit or interrupted)")
	cmd.Flags().StringVar(&sortBy, "sort", "cpu", "order VMs by `KEY`: "+strings.Join(top.SortNames(), ", "))
	cmd.Flags().BoolVarP(&opts.Batch, "batch", "b", false, "print reports like 'vmctl stats --count' instead of a live view")
	_ = cmd.RegisterFlagCompletionFunc("sort", cobra.FixedCompletions(top.SortNames(), cobra.ShellCompDirectiveNoFileComp))
	f.AddOutputFlags(cmd)
	return cmd
}

func runTop(ctx context.Context, o *TopOptions) error {
	ios := o.F.IO
	in, inOK := ios.In.(*os.File)
	out, outOK := ios.Out.(*os.File)
	// Both must really be terminals (HVCTL_FORCE_TTY only makes tests look like one).
	// TERM=dumb (Emacs's shell, a serial console set so) is a terminal that cannot move the
	// cursor: the live view would print its escape sequences as text, so it gets the reports.
	dumb := o.F.Getenv("TERM") == "dumb"
	if o.Batch || dumb || !inOK || !outOK || !ios.IsStdinTTY() || !ios.IsStdoutTTY() || !term.IsTerminal(int(in.Fd())) || !term.IsTerminal(int(out.Fd())) {
		return runStats(ctx, &StatsOptions{F: o.F, Patterns: o.Patterns, Interval: o.Interval, Count: o.Count,
			SampleTimeout: o.Timeout, Order: top.Compare(o.Sort, false)})
	}
	uri, err := o.F.URI()
	if err != nil {
		return err
	}
	sampler := &top.Sampler{Timeout: o.Timeout, Connect: func(ctx context.Context) (*virt.Conn, error) {
		return virt.Open(ctx, uri, true)
	}}
	// The first sample is taken before the screen is: a host that cannot be reached, or a
	// pattern that matches no VM, is one line on the shell's screen with its exit code.
	first, err := sampler.Next(ctx)
	if err != nil {
		sampler.Close()
		return errs.Wrap(err, "top")
	}
	names := make([]string, 0, len(first.Report.VMs))
	for _, v := range first.Report.VMs {
		names = append(names, v.Name)
	}
	if err := cmdutil.MissingNames("VM", o.Patterns, names); err != nil {
		sampler.Close()
		return err
	}
	view := &top.View{URI: uri, Interval: o.Interval, Patterns: o.Patterns, Sort: o.Sort}
	if len(o.Patterns) > 0 {
		view.Match = func(name string) bool { return cmdutil.MatchAny(o.Patterns, name) }
	}
	return top.Run(ctx, top.Options{In: in, Out: out, View: view, Sampler: sampler, Interval: o.Interval, Count: o.Count, First: first})
}
