// Package historycmd implements `hvctl history`: the operations journal, read and pruned. It
// lives under hvctl rather than vmctl because the journal covers every tree (VMs, networks,
// images) and the host's own record of who did what.
package historycmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/journal"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/statedb"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/mattn/go-sqlite3"
	"github.com/spf13/cobra"
)

// Options of `history`.
type Options struct {
	F         *cmdutil.Factory
	VM        string
	Since     string
	User      string
	Failed    bool
	Limit     int
	Prune     bool
	OlderThan string
	Yes       bool
}

// NewCmdHistory builds `history`.
func NewCmdHistory(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Show the operations journal: who changed what, when, and how it went",
		Long: `Show the operations journal: every command of hvctl, vmctl, isoctl and netctl that changes
something (start, stop, create, apply, clone, delete, snapshots, image pulls and removals,
network changes …) appends one record when it starts and completes it when it ends: the time,
the user and the user behind sudo (SUDO_USER), the host and libvirt URI, the command line with
secrets redacted (values of --password/--token/--secret-like flags, passwords in URLs, NATS
tokens), each target with its result, the exit code, the error and the duration. A command
that was killed keeps a record without exit code. 'vmctl events --journal' adds lifecycle
events that no hvctl command explains (someone used virsh) as source "external".

The journal is journal.db in paths.state (/var/lib/hvctl) for root; a user who keeps the
default paths.state has their own in $XDG_STATE_HOME/hvctl (~/.local/state/hvctl). When it
cannot be written (read-only or full file system, no permission) commands run on without it
and say so once, until it works again (-q silences that).

Records are listed oldest first; --limit keeps the newest N (0: all). --since takes a duration
back from now (90m, 12h, 7d, 2w) or a time (2026-12-01, 2026-12-01T08:00:00Z). --vm takes a
name or a shell-style pattern. --user matches the user or the sudo user.

--prune removes the records older than --older-than (default: journal.retention, 365d unless
configured). Records older than journal.retention are also removed as new ones are written,
now and then rather than by every command: once the oldest is a tenth of the retention (at
most a day) past it, so --prune without --older-than may find a day's worth to remove.
` + cmdutil.ConfirmHelp,
		Example: `  hvctl history
  hvctl history --vm db01 --since 7d
  hvctl history --user alice --failed
  hvctl history --json --jq '.[] | select(.exit_code != 0) | .argv | join(" ")'
  hvctl history --prune --older-than 90d --yes`,
		Args:        cmdutil.NoArgs,
		Annotations: cmdutil.Journaled("journal:0", map[string]string{cmdutil.AnnJournalIf: "prune"}),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.check(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			if opts.Prune {
				return runPrune(cmd.Context(), opts)
			}
			return runHistory(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.VM, "vm", "", "only records about the VM `NAME` (or a shell-style pattern)")
	fl.StringVar(&opts.Since, "since", "", "only records since `DURATION|TIME` (7d, 12h, 2026-12-01, RFC 3339)")
	fl.StringVar(&opts.User, "user", "", "only commands of the user `NAME` (or run through sudo by them)")
	fl.BoolVar(&opts.Failed, "failed", false, "only commands that failed (exit status not 0)")
	fl.IntVar(&opts.Limit, "limit", 100, "the newest `N` records (0: all)")
	fl.BoolVar(&opts.Prune, "prune", false, "remove old records instead of listing (see --older-than)")
	fl.StringVar(&opts.OlderThan, "older-than", "", "with --prune: remove records older than `AGE` (90d, 2w; default journal.retention)")
	cmdutil.AddYesFlag(cmd, &opts.Yes)
	f.AddOutputFlags(cmd)
	_ = cmd.RegisterFlagCompletionFunc("vm", completeVMs(f))
	_ = cmd.RegisterFlagCompletionFunc("since", cobra.FixedCompletions([]string{"1h", "24h", "7d", "30d"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("older-than", cobra.FixedCompletions([]string{"30d", "90d", "180d", "365d"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("user", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("limit", cobra.NoFileCompletions)
	return cmd
}

func (o *Options) check(cmd *cobra.Command) error {
	if o.Limit < 0 {
		return errs.New(errs.Usage, "--limit must be 0 (all) or more, got %d", o.Limit)
	}
	if o.OlderThan != "" && !o.Prune {
		return errs.New(errs.Usage, "--older-than goes with --prune").WithHint("to list old records, use --since and --limit")
	}
	if o.Prune {
		for _, name := range []string{"vm", "since", "user", "failed", "limit"} {
			if cmd.Flags().Changed(name) {
				return errs.New(errs.Usage, "--prune removes by age only; --%s does not go with it", name)
			}
		}
		if o.OlderThan != "" {
			if _, err := parseAge("--older-than", o.OlderThan); err != nil {
				return err
			}
		}
	}
	if o.Since != "" {
		if _, err := parseSince(o.Since, time.Now()); err != nil {
			return err
		}
	}
	return nil
}

func parseAge(flag, s string) (time.Duration, error) {
	d, err := units.ParseAge(s)
	if err != nil {
		return 0, errs.New(errs.Usage, "%s: %v", flag, err)
	}
	return d, nil
}

// parseSince reads --since: an age back from now, or a time (units.ParseSince).
func parseSince(s string, now time.Time) (time.Time, error) {
	t, err := units.ParseSince(s, now)
	if err != nil {
		return time.Time{}, errs.New(errs.Usage, "--since: %v", err)
	}
	return t, nil
}

// journalPath is the journal this user's commands write (journal.Dir).
func journalPath(f *cmdutil.Factory) (string, error) {
	l, err := f.Config()
	if err != nil {
		return "", err
	}
	return filepath.Join(journal.Dir(l, f.UID, f.Getenv), journal.FileName), nil
}

// openJournal opens the journal; a journal that does not exist yet is none (nil, nil).
func openJournal(ctx context.Context, f *cmdutil.Factory, readOnly bool) (*journal.Journal, string, error) {
	path, err := journalPath(f)
	if err != nil {
		return nil, "", err
	}
	j, err := journal.Open(ctx, path, journal.Options{Now: f.Now, ReadOnly: readOnly})
	if errors.Is(err, os.ErrNotExist) {
		return nil, path, nil
	}
	return j, path, openError(path, err)
}

// openError gives the journal's open error its exit code. Reading, SQLite itself meets the
// root-only file, so its EACCES comes inside a sqlite3.Error that os.ErrPermission does not
// match: without looking there `hvctl history` as a user said exit 1 and no hint.
func openError(path string, err error) error {
	var se sqlite3.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrPermission), errors.As(err, &se) && errors.Is(se.SystemErrno, os.ErrPermission):
		return errs.New(errs.Unreachable, "journal %s: permission denied", path).
			WithHint("the host's journal is root's: run with sudo")
	}
	return errs.Wrap(statedb.Classify(path, err), "journal")
}

func runHistory(ctx context.Context, o *Options) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	if o.VM != "" {
		// SQLite's GLOB takes a malformed pattern as matching nothing: an empty list that
		// looks like "no such records", where vmctl's verbs say the pattern is wrong.
		if err := cmdutil.ValidatePatterns([]string{o.VM}); err != nil {
			return errs.Wrap(err, "--vm")
		}
	}
	filter := journal.Filter{VM: o.VM, User: o.User, Failed: o.Failed, Limit: o.Limit}
	if o.Since != "" {
		if filter.Since, err = parseSince(o.Since, o.F.Now()); err != nil {
			return err
		}
	}
	j, _, err := openJournal(ctx, o.F, true)
	if err != nil {
		return err
	}
	records := []model.JournalRecord{}
	if j != nil {
		defer j.Close()
		if records, err = j.Query(ctx, filter); err != nil {
			return errs.Wrap(statedb.Classify(j.Path(), err), "journal") // a damaged page shows only now
		}
	}
	return output.List(o.F.IO.Out, format, records, columns, func(r model.JournalRecord) string { return fmt.Sprint(r.ID) })
}

func runPrune(ctx context.Context, o *Options) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	age := o.OlderThan
	if age == "" {
		l, err := o.F.Config()
		if err != nil {
			return err
		}
		age = l.Config.Journal.Retention
	}
	d, err := parseAge("--older-than", age)
	if err != nil {
		return err
	}
	switch {
	case d == 0 && o.OlderThan != "":
		return errs.New(errs.Usage, "--older-than must be more than 0")
	case d == 0:
		return errs.New(errs.Usage, "--prune needs --older-than: journal.retention is 0 (keep everything)")
	}
	cutoff := o.F.Now().Add(-d).UTC()
	j, path, err := openJournal(ctx, o.F, false)
	if err != nil {
		return err
	}
	defer j.Close()
	n, err := j.CountOlder(ctx, cutoff)
	if err != nil {
		return errs.Wrap(statedb.Classify(path, err), "journal")
	}
	result := model.JournalPrune{Before: cutoff.Format(time.RFC3339), File: path}
	if n > 0 {
		q := cmdutil.Question{Verb: "prune", What: "journal records", Done: "pruned", Objects: []string{path},
			Prompt: fmt.Sprintf("prune %s older than %s (started before %s) from %s", records(n), age, result.Before, path)}
		if err := cmdutil.Confirm(o.F.IO, o.Yes, q); err != nil {
			return err
		}
		if result.Pruned, err = j.Prune(ctx, cutoff); err != nil {
			return errs.Wrap(statedb.Classify(path, err), "journal")
		}
	}
	o.F.Infof("%s: pruned %s older than %s", o.F.Prog, records(result.Pruned), age)
	return output.Object(o.F.IO.Out, format, result, [][2]string{
		{"pruned:", fmt.Sprint(result.Pruned)}, {"before:", result.Before}, {"file:", result.File},
	})
}

// records counts journal records in words: "1 journal record", "2 journal records".
func records(n int64) string {
	if n == 1 {
		return "1 journal record"
	}
	return fmt.Sprintf("%d journal records", n)
}

// columns is the table of records: wide adds where, the targets one by one and the error.
var columns = []output.Column[model.JournalRecord]{
	{Header: "id", Value: func(r model.JournalRecord) string { return fmt.Sprint(r.ID) }},
	{Header: "time", Value: func(r model.JournalRecord) string { return shortTime(r.Time) }},
	{Header: "user", Value: userCell},
	{Header: "command", Value: commandCell},
	{Header: "result", Value: resultCell},
	{Header: "duration", Value: durationCell},
	{Header: "host", Wide: true, Value: func(r model.JournalRecord) string { return output.Dash(r.Host) }},
	{Header: "uri", Wide: true, Value: func(r model.JournalRecord) string { return output.Dash(r.URI) }},
	{Header: "targets", Wide: true, Value: targetsCell},
	{Header: "error", Wide: true, Value: func(r model.JournalRecord) string { return output.Dash(r.Error) }},
}

func shortTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format(time.RFC3339)
}

func userCell(r model.JournalRecord) string {
	u := output.Dash(r.User)
	if r.SudoUser != "" {
		u = r.SudoUser + " (sudo " + u + ")"
	}
	return u
}

func commandCell(r model.JournalRecord) string {
	if r.Source == journal.SourceExternal {
		names := make([]string, 0, len(r.Targets))
		for _, t := range r.Targets {
			names = append(names, t.Name)
		}
		return r.Command + " " + strings.Join(names, " ") + " (external)"
	}
	quoted := make([]string, 0, len(r.Argv))
	for _, a := range r.Argv {
		quoted = append(quoted, shellQuote(a))
	}
	return strings.Join(quoted, " ")
}

// shellQuote quotes a word the way a shell would need it to be typed again: 'web 1', 'web-*'.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func resultCell(r model.JournalRecord) string {
	switch {
	case r.Source == journal.SourceExternal:
		return "-"
	case r.ExitCode == nil:
		return "unfinished"
	case *r.ExitCode == 0:
		return "ok"
	}
	failed := 0
	for _, t := range r.Targets {
		if !t.OK {
			failed++
		}
	}
	if len(r.Targets) > 1 && failed < len(r.Targets) {
		return fmt.Sprintf("exit %d (%d/%d failed)", *r.ExitCode, failed, len(r.Targets))
	}
	return fmt.Sprintf("exit %d", *r.ExitCode)
}

func durationCell(r model.JournalRecord) string {
	if r.DurationSeconds == nil {
		return "-"
	}
	return (time.Duration(*r.DurationSeconds * float64(time.Second))).Round(time.Millisecond).String()
}

func targetsCell(r model.JournalRecord) string {
	if len(r.Targets) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(r.Targets))
	for _, t := range r.Targets {
		switch {
		case r.ExitCode == nil && r.Source != journal.SourceExternal:
			parts = append(parts, t.Name)
		case t.OK && t.Action != "":
			parts = append(parts, t.Name+":"+t.Action)
		case t.OK || r.Source == journal.SourceExternal:
			parts = append(parts, t.Name+":ok")
		default:
			parts = append(parts, t.Name+":failed")
		}
	}
	return strings.Join(parts, ",")
}

// completeVMs completes --vm with the VMs the journal knows, bounded like every completion.
func completeVMs(f *cmdutil.Factory) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		ctx, cancel := context.WithTimeout(context.Background(), cmdutil.CompletionTimeout)
		defer cancel()
		names, directive := cmdutil.VMNameCompletions(ctx, f)
		return names, directive | cobra.ShellCompDirectiveNoFileComp
	}
}
