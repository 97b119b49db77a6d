package cmdutil

import (
	"context"
	"slices"
	"sync"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/spf13/cobra"
)

// AnnJournal marks a command that changes something: every run of it appends one record to
// the operations journal (`hvctl history`). The value says what its targets are, as a kind
// and how many leading positional arguments name them:
//
//	"vm"      every positional argument is a VM (or a pattern): start, stop, delete …
//	"vm:1"    only the first is: snapshot create VM [NAME]
//	"vm:0"    none is (create PROFILE): the command names its targets (ReportTargets)
//
// Per-target results of bulk verbs (RunBulk) replace the arguments in the record by
// themselves; other commands report theirs with ReportResults when the arguments do not name
// them. Kinds in use: vm, network, image, profile.
const AnnJournal = "hvctl/journal"

// AnnJournalIf makes a command journaled only when the flag it names is set: a command that
// mostly reads and changes something with one flag (hvctl history --prune, isoctl partials
// --clear) is not journaled on every read. It goes with AnnJournal.
const AnnJournalIf = "hvctl/journal-if"

// Journaled returns the annotations of a journaled command with targets of kind, merged into
// ann (which may be nil): Annotations: cmdutil.Journaled("vm", nil).
func Journaled(kind string, ann map[string]string) map[string]string {
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AnnJournal] = kind
	return ann
}

// AnnSecret on a flag (cobra's flag annotations) keeps its value out of the journal: the
// recorded command line says REDACTED. Flags named like secrets (password, token, secret,
// passphrase) are redacted without it.
const AnnSecret = "hvctl/secret"

// MarkSecret marks the flag name of cmd as secret (AnnSecret).
func MarkSecret(cmd *cobra.Command, name string) {
	_ = cmd.Flags().SetAnnotation(name, AnnSecret, []string{"true"})
}

// ResultSink collects the per-target results a command reports, for the journal.
type ResultSink struct {
	mu      sync.Mutex
	results []model.Result
	set     bool
	names   []string
}

type resultSinkKey struct{}

// WithResultSink returns ctx carrying s: RunBulk and ReportResults under it report to s.
func WithResultSink(ctx context.Context, s *ResultSink) context.Context {
	return context.WithValue(ctx, resultSinkKey{}, s)
}

// ReportResults tells the journal (if any is listening on ctx) what the command did to each
// target. RunBulk calls it; a command whose arguments do not name its targets (create
// PROFILE) calls it itself.
func ReportResults(ctx context.Context, results ...model.Result) {
	s, _ := ctx.Value(resultSinkKey{}).(*ResultSink)
	if s == nil || len(results) == 0 { // nothing matched: the arguments stay the targets
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.results = append(s.results, results...)
	s.set = true
}

// ReportTargets names the targets of a command whose arguments do not name them (create
// PROFILE names its VM only once the profile is read); their outcome in the journal is the
// command's. Results reported by ReportResults take precedence.
func ReportTargets(ctx context.Context, names ...string) {
	s, _ := ctx.Value(resultSinkKey{}).(*ResultSink)
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		if !slices.Contains(s.names, n) {
			s.names = append(s.names, n)
		}
	}
}

// Targets returns the names ReportTargets reported.
func (s *ResultSink) Targets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.names)
}

// Results returns what was reported, and whether anything was.
func (s *ResultSink) Results() ([]model.Result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.results), s.set
}
