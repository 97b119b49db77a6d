package cmdutil

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// AllHosts is the --host value that stands for every host of the configuration.
const AllHosts = "all"

// HostFlags select the hosts a command fans out to (--host, --host-parallel, --host-timeout,
// --strict). Without --host a command talks to the one libvirt of -c as always.
type HostFlags struct {
	Hosts    []string
	Parallel int
	Timeout  time.Duration
	Strict   bool
	// flag is --host itself: `--host ''` parses to no names, yet was given and must not fall
	// back to the one libvirt of -c.
	flag *pflag.Flag
}

// Enabled says whether --host was given.
func (hf *HostFlags) Enabled() bool {
	return len(hf.Hosts) > 0 || (hf.flag != nil && hf.flag.Changed)
}

// AddHostFlags registers the fan-out flags on a command that can run on several hosts.
func AddHostFlags(f *Factory, cmd *cobra.Command, hf *HostFlags) {
	fl := cmd.Flags()
	fl.StringSliceVar(&hf.Hosts, "host", nil, "run on these `HOST`s of the configuration's [hosts] table, a [groups] name, or all (comma-separated; contacted concurrently)")
	fl.IntVar(&hf.Parallel, "host-parallel", 8, "contact at most `N` hosts at once")
	fl.DurationVar(&hf.Timeout, "host-timeout", 30*time.Second, "give each host at most `DURATION` to answer; a host that does not is reported and the rest still answer")
	hf.flag = fl.Lookup("host")
	fl.BoolVar(&hf.Strict, "strict", false, "fail when any host does not answer, instead of answering from the rest (exit with its code: 5 timed out, 7 refused)")
	// With --host the command has no deadline of its own unless --timeout is given (see
	// EffectiveTimeout): say so where --timeout's default is shown.
	if _, ok := cmd.Annotations[AnnTimeoutHelp]; !ok && cmd.Annotations[AnnTimeout] != "none" {
		if cmd.Annotations == nil {
			cmd.Annotations = map[string]string{}
		}
		cmd.Annotations[AnnTimeoutHelp] = TimeoutDefault(cmd) + "; none with --host, where --host-timeout bounds each host"
	}
	_ = cmd.RegisterFlagCompletionFunc("host", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		out := []string{AllHosts}
		if l, err := f.Config(); err == nil {
			out = append(out, slices.Sorted(maps.Keys(l.Config.Hosts))...)
			out = append(out, slices.Sorted(maps.Keys(l.Config.Groups))...)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	})
}

// Host is one host a command runs on: its name in the configuration and its libvirt URI.
type Host struct {
	Name string
	URI  string
}

// ResolveHosts turns --host values into hosts, in the order given (groups expanded in theirs,
// all in name order), each once. An unknown name is a usage error naming the known ones.
func (f *Factory) ResolveHosts(hf *HostFlags) ([]Host, error) {
	if f.Global.Flags != nil && f.Global.Flags.Changed("connect") {
		return nil, usageError("--host and -c/--connect cannot be used together: -c names one libvirt, --host names configured hosts")
	}
	if hf.Parallel < 1 {
		return nil, usageError("--host-parallel must be at least 1")
	}
	if hf.Timeout <= 0 {
		return nil, usageError("--host-timeout must be positive")
	}
	if len(hf.Hosts) == 0 {
		return nil, usageError("--host: empty host name")
	}
	l, err := f.Config()
	if err != nil {
		return nil, err
	}
	hosts, groups := l.Config.Hosts, l.Config.Groups
	var names []string
	for _, spec := range hf.Hosts {
		spec = strings.TrimSpace(spec)
		switch {
		case spec == AllHosts:
			names = append(names, slices.Sorted(maps.Keys(hosts))...)
		case groups[spec] != nil:
			names = append(names, groups[spec]...)
		case spec == "":
			return nil, usageError("--host: empty host name")
		default:
			if _, ok := hosts[spec]; !ok {
				e := errs.New(errs.Usage, "--host: %q is neither a host in the configuration's [hosts] table nor a [groups] name", output.Escape(spec))
				if len(hosts) == 0 {
					return nil, e.WithHint("no hosts are configured; add [hosts.NAME] uri = \"…\" to the configuration")
				}
				known := slices.Sorted(maps.Keys(hosts))
				if len(groups) > 0 {
					return nil, e.WithHint("hosts: %s; groups: %s", strings.Join(known, ", "), strings.Join(slices.Sorted(maps.Keys(groups)), ", "))
				}
				return nil, e.WithHint("hosts: %s", strings.Join(known, ", "))
			}
			names = append(names, spec)
		}
	}
	if len(names) == 0 {
		return nil, usageError("--host all: the configuration has no [hosts]")
	}
	out := make([]Host, 0, len(names))
	for _, n := range names {
		if !slices.ContainsFunc(out, func(h Host) bool { return h.Name == n }) {
			out = append(out, Host{Name: n, URI: hosts[n].URI})
		}
	}
	return out, nil
}

// HostFailure is a host that did not answer.
type HostFailure struct {
	Host Host
	Err  error
}

// EachHost runs fn on every host concurrently (at most hf.Parallel at once), each under its own
// deadline (hf.Timeout), and returns each host's error in host order (nil: it answered). A host
// that ran out of its deadline gets a timeout error naming --host-timeout; one still out when
// ctx's deadline (--timeout) passes fails alike, so the others' answers still count. Hosts take
// their turns in the order given. It is FanOut without the connection, for commands that keep
// their own per host (stats' samplers).
func EachHost(ctx context.Context, hf *HostFlags, hosts []Host, fn func(ctx context.Context, i int, h Host) error) []error {
	failures := make([]error, len(hosts))
	sem := make(chan struct{}, hf.Parallel)
	var wg sync.WaitGroup
	for i, h := range hosts {
		// Taken here, in host order (with --host-parallel 1, one after another), not raced for.
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			failures[i] = commandDeadlineError(ctx.Err())
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			hctx, cancel := virt.WithTimeout(ctx, hf.Timeout)
			defer cancel()
			err := fn(hctx, i, h)
			switch {
			case err == nil || hctx.Err() == nil:
			case ctx.Err() == nil:
				// The host's own deadline passed (not the command's): say which knob it was.
				msg := err.Error()
				if errs.KindOf(err) != errs.Timeout {
					msg = fmt.Sprintf("no answer within --host-timeout %s", ShortDuration(hf.Timeout))
				}
				err = &errs.Error{Kind: errs.Timeout, Msg: msg, Err: err,
					Hint: "is its daemon stuck or overloaded? raise --host-timeout or check that host's libvirtd log"}
			default:
				// The command's deadline passed first; virt's message would name --host-timeout's.
				err = commandDeadlineError(err)
			}
			failures[i] = err
		}()
	}
	wg.Wait()
	return failures
}

// commandDeadlineError is the failure of a host still out when the command's deadline passed.
func commandDeadlineError(err error) error {
	return &errs.Error{Kind: errs.Timeout, Msg: "no answer before the command's deadline (--timeout)", Err: err,
		Hint: "--timeout bounds the whole command, --host-timeout each host: raise --timeout or leave it out"}
}

// FanOut runs fn on every host concurrently (EachHost), each over its own libvirt connection,
// so the whole costs about the slowest host rather than the sum. Results come back in host
// order. Hosts that failed are reported and make the returned error (HostsOutcome); with
// --strict or when no host answered, no results are returned, so nothing is printed.
func FanOut[T any](ctx context.Context, f *Factory, cmd *cobra.Command, hf *HostFlags, hosts []Host, readOnly bool,
	fn func(ctx context.Context, h Host, conn *virt.Conn) ([]T, error)) ([]T, error) {
	results := make([][]T, len(hosts))
	failures := EachHost(ctx, hf, hosts, func(ctx context.Context, i int, h Host) error {
		conn, err := virt.Open(ctx, h.URI, readOnly)
		if err != nil {
			return err
		}
		defer conn.Close()
		results[i], err = fn(ctx, h, conn)
		return err
	})
	// Ctrl-C ends the command; its deadline (--timeout) passing only made the hosts still out
	// failures like the rest, so what the others answered by then is still shown.
	if err := ctx.Err(); errors.Is(err, context.Canceled) {
		return nil, err
	}
	err := f.HostsOutcome(cmd, hf, hosts, failures)
	if err != nil && errs.KindOf(err) != errs.Partial {
		return nil, err
	}
	var out []T
	for i := range hosts {
		if failures[i] == nil {
			out = append(out, results[i]...)
		}
	}
	return out, err
}

// HostsOutcome reports the hosts that failed (failures[i] is hosts[i]'s error, nil when it
// answered) on stderr, one line each or an error object with the host under --json, and
// returns the command's error: nil when all answered, partial (exit 6) when some did, the
// first failure itself when none did or with --strict.
func (f *Factory) HostsOutcome(cmd *cobra.Command, hf *HostFlags, hosts []Host, failures []error) error {
	var failed []HostFailure
	for i, h := range hosts {
		if failures[i] != nil {
			failed = append(failed, HostFailure{Host: h, Err: failures[i]})
		}
	}
	if len(failed) == 0 {
		return nil
	}
	if hf.Strict || len(failed) == len(hosts) {
		return f.hostsFailed(cmd, failed, len(hosts))
	}
	for _, fl := range failed {
		f.reportHostFailure(cmd, fl)
	}
	names := make([]string, len(failed))
	for i, fl := range failed {
		names[i] = fl.Host.Name
	}
	return errs.New(errs.Partial, "%d of %d hosts did not answer: %s", len(failed), len(hosts), strings.Join(names, ", "))
}

// hostsFailed is the command's error when it fails for its hosts (--strict, or none answered).
// One host's failure is the error itself. Several are reported one line each in host order and
// the error names them (kind and hint of the first): were the first the error, it would come
// last, after the others. Under --json every host gets its record, with its host field.
func (f *Factory) hostsFailed(cmd *cobra.Command, failed []HostFailure, total int) error {
	first := failed[0]
	if len(failed) == 1 {
		if WantsJSON(cmd, nil) {
			f.reportHostFailure(cmd, first)
		}
		return &errs.Error{Kind: errs.KindOf(first.Err), Msg: fmt.Sprintf("host %s: %s", first.Host.Name, first.Err), Err: first.Err, Hint: errs.HintOf(first.Err)}
	}
	names := make([]string, len(failed))
	for i, fl := range failed {
		f.reportHostFailure(cmd, fl)
		names[i] = fl.Host.Name
	}
	msg := "no host answered: " + strings.Join(names, ", ")
	if len(failed) < total {
		msg = fmt.Sprintf("%d of %d hosts did not answer (--strict): %s", len(failed), total, strings.Join(names, ", "))
	}
	return &errs.Error{Kind: errs.KindOf(first.Err), Msg: msg, Err: first.Err, Hint: errs.HintOf(first.Err)}
}

// HostRows says how ListHosts handles the rows of one kind: the single-host table's columns
// (a host column is put first), where a row keeps its host, and its name (rows are ordered by
// host then name; -o name prints host:name).
type HostRows[T any] struct {
	Columns []output.Column[T]
	Host    func(*T) *string
	Name    func(T) string
}

// ListHosts is a list command over the hosts of hf: list runs on every host concurrently
// (FanOut) with the patterns that apply there (PatternsForHost: host:glob only on that host)
// and returns the matching rows and the names of all its objects of that kind. The rows are
// tagged with their host, ordered by host then name and printed; then a host that did not
// answer is the error (exit 6, or with --strict nothing is printed), else a literal pattern
// (name or host:name) that no host has is NotFound, named what.
func ListHosts[T any](ctx context.Context, f *Factory, cmd *cobra.Command, hf *HostFlags, what string, patterns []string, rows HostRows[T],
	list func(ctx context.Context, conn *virt.Conn, patterns []string) (matching []T, names []string, err error)) error {
	format, err := f.Format()
	if err != nil {
		return err
	}
	hosts, err := f.ResolveHosts(hf)
	if err != nil {
		return err
	}
	if err := f.CheckHostQualifiers(patterns, hosts); err != nil {
		return err
	}
	type found struct {
		rows  []T
		names []string
	}
	per, fanErr := FanOut(ctx, f, cmd, hf, hosts, true, func(ctx context.Context, h Host, conn *virt.Conn) ([]found, error) {
		here, applies := PatternsForHost(patterns, h.Name, IsHostIn(hosts))
		matching, names, err := list(ctx, conn, here)
		if !applies {
			matching = nil // patterns were given, none for this host: its objects only count as names
		}
		for i := range matching {
			*rows.Host(&matching[i]) = h.Name
		}
		// A literal pattern is found by its bare name on any host, or qualified on its own.
		qualified := make([]string, 0, 2*len(names))
		for _, n := range names {
			qualified = append(qualified, n, h.Name+":"+n)
		}
		return []found{{matching, qualified}}, err
	})
	if per == nil && fanErr != nil {
		return fanErr
	}
	var all []T
	var names []string
	for _, p := range per {
		all = append(all, p.rows...)
		names = append(names, p.names...)
	}
	key := func(v T) string { return *rows.Host(&v) }
	slices.SortStableFunc(all, func(a, b T) int {
		return cmp.Or(cmp.Compare(key(a), key(b)), cmp.Compare(rows.Name(a), rows.Name(b)))
	})
	hostCol := output.Column[T]{Header: "host", Value: key}
	cols := append([]output.Column[T]{hostCol}, rows.Columns...)
	if err := output.List(f.IO.Out, format, all, cols, func(v T) string { return key(v) + ":" + rows.Name(v) }); err != nil {
		return err
	}
	if fanErr != nil { // a host that did not answer may hold a name asked for: say that first
		return fanErr
	}
	return MissingNames(what, patterns, names)
}

// CheckHostQualifiers refuses a target host:PATTERN whose host is in the configuration's
// [hosts] but not among hosts (those --host selected): it can match nothing, and an empty
// answer or "not found" would hide the mistake. A prefix that names no configured host stays
// part of the name (VM names from elsewhere may hold ':'). The bulk verbs say the same.
func (f *Factory) CheckHostQualifiers(targets []string, hosts []Host) error {
	l, err := f.Config()
	if err != nil {
		return err
	}
	selected := IsHostIn(hosts)
	for _, t := range targets {
		h, _, ok := strings.Cut(t, ":")
		if _, configured := l.Config.Hosts[h]; !ok || !configured || selected(h) {
			continue
		}
		names := make([]string, len(hosts))
		for i, x := range hosts {
			names[i] = x.Name
		}
		return errs.New(errs.Usage, "%s names host %s, which --host does not select (%s)", output.Escape(t), h, strings.Join(names, ", ")).
			WithHint("add %s to --host, or drop the %s: prefix", h, h)
	}
	return nil
}

// IsHostIn says whether a name is one of hosts, for PatternsForHost.
func IsHostIn(hosts []Host) func(string) bool {
	return func(name string) bool {
		return slices.ContainsFunc(hosts, func(h Host) bool { return h.Name == name })
	}
}

// ReportHostFailure reports at once that host failed, as HostsOutcome does at the end: for a
// command that streams from several hosts (vmctl events) and must not wait for the end to say.
func (f *Factory) ReportHostFailure(cmd *cobra.Command, h Host, err error) {
	f.reportHostFailure(cmd, HostFailure{Host: h, Err: err})
}

// reportHostFailure writes one host's failure: a line for people, or the error object with the
// host named under --json, so a pipeline can tell which host is missing from the data.
func (f *Factory) reportHostFailure(cmd *cobra.Command, fl HostFailure) {
	kind := errs.KindOf(fl.Err)
	if WantsJSON(cmd, nil) {
		body := model.ErrorBody{Error: model.ErrorDetail{Code: kind.String(), ExitCode: kind.ExitCode(),
			Hint: errs.HintOf(fl.Err), Message: fl.Err.Error(), Host: fl.Host.Name}}
		_ = output.WriteJSON(f.IO.ErrOut, output.Format{Kind: output.JSON}, body)
		return
	}
	fmt.Fprintf(f.IO.ErrOut, "%s: host %s: %s\n", f.Prog, fl.Host.Name, output.Escape(fl.Err.Error()))
}

// PatternsForHost returns the patterns that apply on host: unqualified ones, and host:pattern
// ones for this host with the qualifier removed. VM names hvctl accepts have no ':', so a
// qualifier is recognised only when it names a configured host. applies is false when patterns
// were given and none applies here: nothing on this host is asked for (no patterns would
// mean everything).
func PatternsForHost(patterns []string, host string, isHost func(string) bool) (out []string, applies bool) {
	for _, p := range patterns {
		if h, rest, ok := strings.Cut(p, ":"); ok && isHost(h) {
			if h == host {
				out = append(out, rest)
			}
			continue
		}
		out = append(out, p)
	}
	return out, len(patterns) == 0 || len(out) > 0
}
