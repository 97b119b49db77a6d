package app

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/journal"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// journalWriteTimeout bounds each journal write beyond the busy wait, so that the journal
// never holds a command noticeably: when it cannot write in time it skips.
const journalWriteTimeout = journal.BusyTimeout + time.Second

// recorder appends the journal record of one run of a command annotated cmdutil.AnnJournal:
// begin when the command starts (after its flags and arguments parsed), finish with the exit
// code. It is the journal's one hook; commands only carry the annotation.
type recorder struct {
	// exiting: the process exits once the command is done (Main), so the journal is left for
	// the exit to close (journal.Abandon), which spares the checkpoint's fsyncs.
	exiting bool
	f       *cmdutil.Factory
	argv    []string // the process's argv as typed
	j       *journal.Journal
	id      int64
	start   time.Time
	sink    *cmdutil.ResultSink
}

// begin opens the journal and appends the starting record; it returns the context the
// command runs under (with the result sink when the command's results name its targets).
// Anything that goes wrong is a warning at most: the journal never fails a command.
func (r *recorder) begin(cmd *cobra.Command, args []string) context.Context {
	ctx := cmd.Context()
	kind, ok := cmd.Annotations[cmdutil.AnnJournal]
	if r == nil || !ok {
		return ctx
	}
	if flag, ok := cmd.Annotations[cmdutil.AnnJournalIf]; ok && !cmd.Flags().Changed(flag) {
		return ctx
	}
	l, err := r.f.Config()
	if err != nil || !l.Config.Journal.Enabled {
		return ctx // a broken configuration fails the command by itself
	}
	retention, _ := units.ParseAge(l.Config.Journal.Retention) // validated with the config
	path := filepath.Join(journal.Dir(l, r.f.UID, r.f.Getenv), journal.FileName)

	r.start = r.f.Now()
	kind, n, hasN := strings.Cut(kind, ":")
	targets := args
	if hasN {
		if k, err := strconv.Atoi(n); err == nil && k < len(args) {
			targets = args[:k]
		}
	}
	e := journal.Entry{
		Time: r.start, UID: &r.f.UID, User: userName(r.f.UID), SudoUser: r.f.Getenv("SUDO_USER"),
		Command: cmd.CommandPath(), Kind: kind, Targets: redactAll(targets),
		Argv: journal.Redact(append([]string{r.f.Prog}, r.argv[1:]...), flagLookup(cmd)),
	}
	e.Host, _ = os.Hostname()
	if uri, err := r.f.URI(); err == nil {
		e.URI = journal.RedactURLs(uri)
	}

	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalWriteTimeout)
	defer cancel()
	j, err := journal.Open(wctx, path, journal.Options{Now: r.f.Now, Retention: retention})
	if err == nil {
		r.id, err = j.Begin(wctx, e)
		if err != nil {
			j.Close()
		}
	}
	if err != nil {
		journalUnavailable(r.f, path, err)
		return ctx
	}
	journalAvailable(r.f)
	r.j = j
	// Results replace the arguments only where the arguments are all the targets ("vm",
	// "vm:0"): snapshot delete VM NAME… reports snapshots, its target stays the VM.
	if !hasN || n == "0" {
		r.sink = &cmdutil.ResultSink{}
		ctx = cmdutil.WithResultSink(ctx, r.sink)
	}
	return ctx
}

// finish completes the record with the exit code and err's message.
func (r *recorder) finish(code int, err error) {
	if r == nil || r.j == nil {
		return
	}
	if r.exiting {
		defer r.j.Abandon()
	} else {
		defer r.j.Close()
	}
	o := journal.Outcome{Duration: r.f.Now().Sub(r.start), ExitCode: code}
	if err != nil {
		o.Error = redactText(err.Error())
	}
	if r.sink != nil {
		if results, ok := r.sink.Results(); ok {
			o.Results = journalTargets(results)
		} else if names := r.sink.Targets(); len(names) > 0 {
			for _, n := range names {
				o.Results = append(o.Results, model.JournalTarget{Name: redactText(n), OK: code == 0, Error: o.Error})
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), journalWriteTimeout)
	defer cancel()
	if err := r.j.Finish(ctx, r.id, o); err != nil {
		journalUnavailable(r.f, r.j.Path(), err)
	}
}

func journalTargets(results []model.Result) []model.JournalTarget {
	out := make([]model.JournalTarget, 0, len(results))
	for _, res := range results {
		out = append(out, model.JournalTarget{Name: redactText(res.Name), OK: res.OK, Action: res.Action, Error: redactText(res.Error)})
	}
	return out
}

// redactText redacts the secrets of every URL in s, as the command line's are: a target or
// an error can be a URL with a password (isoctl pull https://user:password@…), and the
// journal's records are shipped to the system log.
func redactText(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return nonSpace.ReplaceAllStringFunc(s, journal.RedactURLs)
}

var nonSpace = regexp.MustCompile(`\S+`)

func redactAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = redactText(s)
	}
	return out
}

// flagLookup tells journal.Redact which words of argv are flag values and which are secret.
func flagLookup(cmd *cobra.Command) journal.LookupFlag {
	return func(name string, short bool) (journal.Flag, bool) {
		var fl *pflag.Flag
		if short {
			fl = cmd.Flags().ShorthandLookup(name)
		} else {
			fl = cmd.Flags().Lookup(name)
		}
		if fl == nil {
			return journal.Flag{}, false
		}
		_, marked := fl.Annotations[cmdutil.AnnSecret]
		return journal.Flag{TakesValue: fl.NoOptDefVal == "", Secret: marked || journal.IsSecretName(fl.Name)}, true
	}
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return ""
}

// The journal says once that it cannot write, not on every command: a marker file in the
// user's runtime directory ($XDG_RUNTIME_DIR, /run for root, else the temp directory) holds
// the journal's path and why it failed. A later failure for the same reason is silent; a
// different reason warns again, and the first successful write removes the marker, so the
// next failure warns again. -q silences the warning.
func warnMarker(f *cmdutil.Factory) string {
	dir := f.Getenv("XDG_RUNTIME_DIR")
	if !filepath.IsAbs(dir) {
		dir = os.TempDir()
		if f.UID == 0 {
			dir = "/run"
		}
	}
	return filepath.Join(dir, "hvctl-journal-warned-"+strconv.Itoa(f.UID))
}

func journalUnavailable(f *cmdutil.Factory, path string, err error) {
	if f.IO.Quiet || f.Global.Quiet {
		return // not said, so not marked as said: the next command without -q says it
	}
	reason := journalReason(err)
	marker := warnMarker(f)
	said := path + ": " + reason
	if old, rerr := os.ReadFile(marker); rerr == nil && string(old) == said {
		return
	}
	f.Warnf("operations journal %s not written (%s); commands run on without it (said once; see hvctl history --help)", path, reason)
	// Written only where the user's own runtime files live; failing to write it means the
	// warning may come again, nothing worse.
	_ = os.WriteFile(marker, []byte(said), 0o600)
}

func journalAvailable(f *cmdutil.Factory) {
	_ = os.Remove(warnMarker(f))
}

// journalReason is a short, stable reason for the warning (the marker compares it).
func journalReason(err error) string {
	msg := err.Error()
	var pe *os.PathError
	switch {
	case errors.Is(err, syscall.EROFS) || strings.Contains(msg, "readonly database") || strings.Contains(msg, "read-only"):
		return "read-only file system"
	case errors.Is(err, syscall.ENOSPC) || strings.Contains(msg, "database or disk is full"):
		return "no space left"
	case errors.Is(err, os.ErrPermission) || strings.Contains(msg, "permission denied"):
		return "permission denied"
	case strings.Contains(msg, "database is locked") || errors.Is(err, context.DeadlineExceeded):
		return "locked by another process for too long"
	case errors.As(err, &pe):
		return pe.Op + ": " + pe.Err.Error() // the path is in the warning already
	}
	return msg
}
