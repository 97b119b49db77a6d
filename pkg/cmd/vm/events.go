package vm

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/events"
	"github.com/hyper-nixos/hvctl/pkg/journal"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/statedb"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// EventsOptions of `vm events`.
type EventsOptions struct {
	F        *cmdutil.Factory
	Patterns []string
	Types    []string // expanded: "lifecycle" replaced by its members
	Kinds    []string
	Count    int
	Until    []string
	Timeout  time.Duration // --timeout; 0: until interrupted

	// Publishing: --nats URL, or --publish for the configuration's events.nats_url.
	Publish    bool
	NATS       string
	NATSCreds  string
	NATSCA     string
	NATSBuffer int
	Tee        bool // stdout as well as NATS

	Hosts cmdutil.HostFlags
	Cmd   *cobra.Command // for how a failing host is reported (--json)

	// Journal records the VM lifecycle events no hvctl command explains in the operations
	// journal (the journal's own sink decides which).
	Journal bool
}

// natsCloseWait bounds how long an ending stream waits to hand queued records to the broker.
const natsCloseWait = 2 * time.Second

// Reconnection after a daemon loss: the first wait, its cap, and the bound on one attempt.
const (
	eventsBackoff        = 500 * time.Millisecond
	eventsMaxBackoff     = 30 * time.Second
	eventsAttemptTimeout = 10 * time.Second
)

// NewCmdEvents builds `vm events`.
func NewCmdEvents(f *cmdutil.Factory, runF func(context.Context, *EventsOptions) error) *cobra.Command {
	opts := &EventsOptions{F: f}
	var types, until []string
	cmd := &cobra.Command{
		Use:   "events [PATTERN...]",
		Short: "Stream libvirt's events: VMs started, stopped, crashed, devices, jobs, agents …",
		Long: `Print libvirt's events as they happen, one per line: NDJSON (one compact JSON object per line,
flushed at once) in a pipe or with --json, a readable line on a terminal. Each record has time
(RFC 3339 UTC, nanoseconds, when hvctl received it), seq, host, kind (vm, network, pool, host),
name, uuid, type, detail and data (the event's own fields).

VM event types: the lifecycle events defined, undefined, started, suspended, resumed, stopped,
shutdown, pmsuspended, crashed (the group name "lifecycle" stands for all of them), with their
detail (booted, destroyed, finished, panicked …); and reboot, rtc_change, watchdog, io_error,
graphics, control_error, block_job, disk_change, tray_change, pm_wakeup, pm_suspend,
pm_suspend_disk, balloon_change, device_added, device_removed, device_removal_failed, tunable,
agent_lifecycle, migration_iteration, job_completed, metadata_change, block_threshold,
memory_failure, memory_device_size_change, nic_mac_change. With --kind network or pool:
defined, undefined, started, stopped (pools also created, deleted, refresh; networks
metadata_change).

When the connection to libvirt is lost (the daemon restarted, died, or stopped answering:
keepalive notices within about 15 s), a "disconnected" record (kind host) follows at once;
vmctl reconnects with a growing wait (0.5 s doubling to 30 s) and, once back, prints a "resync"
record (events of the gap are lost) and then one "state" record per selected VM, network or
pool with its current state. The stream never ends on its own unless --count or --until says
so; --timeout bounds it (exit 0 then, or 5 when --count or --until was not reached).

PATTERNs are shell globs on names; --type, --kind and the patterns select records; records of
kind host always pass.

--nats URL (nats:// or tls://; or --publish with the configuration's events.nats_url) publishes
each record to NATS instead of stdout (--tee: to both), as the same JSON, on the subject
hvctl.<host>.<kind>.<uuid>.<type> (hvctl.<host>.host.<type> for disconnected and resync; the
host name with anything but letters, digits, '-' and '_' turned into '_'). --nats-creds (or
events.nats_creds) is a .creds file that only its owner may read (mode 0600), --nats-ca (or
events.nats_ca) the CA for tls://. A broker that is down or restarting never holds the stream
back: up to --nats-buffer records wait for it (the oldest dropped beyond, counted), a warning
says so once, and publishing resumes when it is back.

With --host, the hosts' events come in one stream, each record's host being the configured
host name (the [hosts] key, not the machine's hostname) and seq numbering the merged stream;
patterns may be qualified HOST:PATTERN; --count and --until count over all hosts. Each host
has its own connection, lost and regained on its own (its disconnected and resync records say
which). A host that cannot be reached at the start is reported on stderr and the others
stream; the stream then ends with exit 6, or at once with --strict. --host-timeout bounds each
connection attempt to a host; --timeout still bounds the stream.`,
		Example: `  vmctl events
  vmctl events 'web-*' --type lifecycle --json
  vmctl events db01 --until stopped --timeout 5m     # wait for db01 to stop (exit 5 if not)
  vmctl events --kind vm,network,pool --count 10
  vmctl events --type crashed,stopped --jq 'select(.detail == "crashed") | .name'
  vmctl events --nats nats://127.0.0.1:4222 --nats-creds /etc/hvctl/nats.creds
  vmctl events --publish --tee      # events.nats_url from the configuration, and stdout
  vmctl events --host all --type lifecycle --json
  vmctl events --journal -q > /dev/null   # who did what: virsh's and the guests' changes too`,
		Annotations:       map[string]string{cmdutil.AnnTimeout: "none", cmdutil.AnnTimeoutHelp: "none (stream until interrupted)"},
		ValidArgsFunction: completeVMs(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cmdutil.ValidatePatterns(args); err != nil {
				return err
			}
			opts.Patterns = args
			var err error
			if opts.Types, err = events.ExpandTypes("--type", types); err != nil {
				return err
			}
			if opts.Until, err = events.ExpandTypes("--until", until); err != nil {
				return err
			}
			if opts.Count < 0 {
				return errs.New(errs.Usage, "--count %d: want 0 (no limit) or more", opts.Count)
			}
			if opts.NATS != "" {
				if err := events.CheckNATSURL(opts.NATS); err != nil {
					return err
				}
				opts.Publish = true
			}
			// Publishing's own flags without publishing were dropped in silence: a creds file
			// or CA the user thinks is in use, with nothing going to NATS at all.
			for _, name := range []string{"tee", "nats-creds", "nats-ca", "nats-buffer"} {
				if cmd.Flags().Changed(name) && !opts.Publish {
					return errs.New(errs.Usage, "--%s needs --nats URL or --publish", name)
				}
			}
			if opts.NATSBuffer < 1 {
				return errs.New(errs.Usage, "--nats-buffer %d: want 1 or more", opts.NATSBuffer)
			}
			if fl := f.Global.Flags; fl != nil && fl.Changed("timeout") {
				if f.Global.Timeout <= 0 {
					return errs.New(errs.Usage, "--timeout must be positive")
				}
				opts.Timeout = f.Global.Timeout
			}
			if opts.Hosts.Enabled() && opts.Journal {
				return errs.New(errs.Usage, "--journal records the events of one libvirt; it does not take --host").
					WithHint("run one vmctl events --journal per host, on that host")
			}
			opts.Cmd = cmd
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			if opts.Hosts.Enabled() {
				return runEventsHosts(cmd.Context(), opts)
			}
			return runEvents(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&types, "type", nil, "print only events of these `TYPES` (comma-separated or repeated; lifecycle = all lifecycle events)")
	fl.StringSliceVar(&until, "until", nil, "end after the first selected event of one of these `TYPES` (e.g. stopped)")
	fl.IntVar(&opts.Count, "count", 0, "end after `N` selected events (0: no limit)")
	fl.StringVar(&opts.NATS, "nats", "", "publish to the NATS server at `URL` (nats:// or tls://) instead of stdout")
	fl.BoolVar(&opts.Publish, "publish", false, "publish to the configuration's events.nats_url")
	fl.StringVar(&opts.NATSCreds, "nats-creds", "", "NATS credentials `FILE` (mode 0600; default: events.nats_creds)")
	fl.StringVar(&opts.NATSCA, "nats-ca", "", "CA bundle `FILE` for a tls:// server (default: events.nats_ca)")
	fl.IntVar(&opts.NATSBuffer, "nats-buffer", 10000, "records kept while the broker is unreachable (`N`; the oldest dropped beyond)")
	fl.BoolVar(&opts.Tee, "tee", false, "print to stdout as well as publishing")
	fl.BoolVar(&opts.Journal, "journal", false, "also record VM lifecycle events that no hvctl command explains (someone used virsh, a guest powered off, QEMU crashed) in the operations journal (hvctl history)")
	_ = cmd.MarkFlagFilename("nats-creds", "creds")
	_ = cmd.MarkFlagFilename("nats-ca", "pem", "crt")
	cmdutil.AddHostFlags(f, cmd, &opts.Hosts)
	cmdutil.StringSliceEnumFlag(cmd, &opts.Kinds, "kind", "", []string{virt.KindVM}, virt.EventKinds, "objects whose events to print")
	typeNames := append([]string{events.TypeLifecycle}, events.Types()...)
	for _, name := range []string{"type", "until"} {
		_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(typeNames, cobra.ShellCompDirectiveNoFileComp))
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runEvents(ctx context.Context, o *EventsOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	if g := o.F.Global.OutputFlags; g.Output == "" && !g.JSON && g.JQ == "" && !o.F.IO.IsStdoutTTY() {
		format.Kind = output.JSON // a pipe gets NDJSON, a person a readable line
	}
	uri, err := o.F.URI()
	if err != nil {
		return err
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = virt.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	sinks, closeSinks, err := eventSinks(ctx, o, format, uri)
	if err != nil {
		return err
	}
	defer closeSinks()
	return events.Run(ctx, events.Options{
		Open: func(ctx context.Context) (events.Conn, error) {
			c, err := virt.Open(ctx, uri, true) // events and states need no write access
			if err != nil {
				return nil, err
			}
			return events.Adapt(c), nil
		},
		URI: uri, Kinds: o.Kinds,
		Filter: events.Filter{Patterns: o.Patterns, Types: o.Types},
		Sinks:  sinks, Count: o.Count, Until: o.Until, Timeout: o.Timeout,
		Now: o.F.Now, Warnf: o.F.Warnf,
		Backoff: eventsBackoff, MaxBackoff: eventsMaxBackoff, AttemptTimeout: eventsAttemptTimeout,
	})
}

// eventSinks are where records go: stdout (unless only publishing), NATS, the journal (for
// the events of uri). close hands on what is pending and closes them.
func eventSinks(ctx context.Context, o *EventsOptions, format output.Format, uri string) (sinks []events.Sink, closeAll func(), err error) {
	var closers []func()
	closeAll = func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	if !o.Publish || o.Tee {
		sinks = append(sinks, events.NewWriter(o.F.IO.Out, format))
	}
	if o.Publish {
		pub, err := startPublisher(o)
		if err != nil {
			return nil, closeAll, err
		}
		closers = append(closers, func() { pub.Close(natsCloseWait) })
		sinks = append(sinks, pub)
	}
	if o.Journal {
		l, err := o.F.Config()
		if err != nil {
			closeAll()
			return nil, func() {}, err
		}
		j, err := journal.OpenFor(ctx, l, o.F.UID, o.F.Getenv, o.F.Now)
		if err != nil {
			closeAll()
			// Its exit code and one line naming the file, as hvctl history and metrics say it.
			path := filepath.Join(journal.Dir(l, o.F.UID, o.F.Getenv), journal.FileName)
			return nil, func() {}, errs.Wrap(statedb.Classify(path, err), "--journal")
		}
		sink := journal.NewEventSink(j, journal.EventSinkOptions{URI: uri, Now: o.F.Now, Warnf: o.F.Warnf})
		closers = append(closers, func() { _ = sink.Close() }) // decides what is still pending, then closes the journal
		sinks = append(sinks, sink)
	}
	return sinks, closeAll, nil
}

// startPublisher connects the NATS sink: the flags, else the configuration's events keys.
func startPublisher(o *EventsOptions) (*events.NATS, error) {
	l, err := o.F.Config()
	if err != nil {
		return nil, err
	}
	c := l.Config.Events
	url := cmp.Or(o.NATS, c.NATSURL)
	if url == "" {
		return nil, errs.New(errs.Usage, "--publish: the configuration has no events.nats_url").
			WithHint("set events.nats_url = \"nats://HOST:4222\" in the configuration, or give --nats URL")
	}
	host, _ := os.Hostname()
	return events.NewNATS(events.NATSOptions{
		URL: url, CredsFile: cmp.Or(o.NATSCreds, c.NATSCreds), CAFile: cmp.Or(o.NATSCA, c.NATSCA),
		Buffer: o.NATSBuffer, Name: "hvctl events on " + host, Warnf: o.F.Warnf,
	})
}
