package cmdutil

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/iostreams"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// BulkFlags are the target-selection flags of every bulk verb.
type BulkFlags struct {
	All      bool
	Parallel int
	Noun     string // what the targets are, for help and errors: "VM" when empty
	// Profile and Owner narrow VM targets to the VMs hvctl made from that profile or for that
	// owner (the metadata create and apply record in the domain XML).
	Profile, Owner string
	// Destructive verbs (stop, kill, restart) ask before acting on --all; Yes skips that.
	Destructive bool
	Yes         bool
}

func (b BulkFlags) noun() string { return cmp.Or(b.Noun, "VM") }

// AddBulkFlags registers --all and -j/--parallel; for VMs the --profile and --owner selectors;
// for a destructive verb (b.Destructive set before the call) -y/--yes.
func AddBulkFlags(cmd *cobra.Command, b *BulkFlags) {
	cmd.Flags().BoolVar(&b.All, "all", false, "act on every "+b.noun())
	cmd.Flags().IntVarP(&b.Parallel, "parallel", "j", 4, "act on at most `N` "+b.noun()+"s at once")
	if b.noun() == "VM" {
		cmd.Flags().StringVar(&b.Profile, "profile", "", "only VMs hvctl made from the profile `NAME`")
		cmd.Flags().StringVar(&b.Owner, "owner", "", "only VMs whose profile names the owner `NAME`")
	}
	if b.Destructive {
		AddYesFlag(cmd, &b.Yes)
	}
}

// Scoped says whether --profile or --owner narrows the targets.
func (b BulkFlags) Scoped() bool { return b.Profile != "" || b.Owner != "" }

// Scope keeps the names of VMs whose hvctl metadata matches --profile and --owner; without
// them it returns names unchanged. VMs hvctl did not make have no metadata and never match.
func (b BulkFlags) Scope(ctx context.Context, conn *virt.Conn, names []string) ([]string, error) {
	if !b.Scoped() {
		return names, nil
	}
	var kept []string
	for _, n := range names {
		d, err := conn.Domain(ctx, n)
		if errs.KindOf(err) == errs.NotFound {
			continue // gone meanwhile
		} else if err != nil {
			return nil, err
		}
		x, err := d.Metadata(ctx, domainxml.Namespace)
		d.Free()
		if err != nil {
			return nil, err
		}
		if x == "" {
			continue
		}
		info, err := domainxml.ParseMetadata(x)
		if err != nil {
			continue // not hvctl's element after all
		}
		if (b.Profile == "" || info.Profile == b.Profile) && (b.Owner == "" || info.Owner == b.Owner) {
			kept = append(kept, n)
		}
	}
	return kept, nil
}

// ConfirmAll asks before a destructive verb acts on --all: the one confirmation model,
// listing the targets.
func (b BulkFlags) ConfirmAll(ios *iostreams.IOStreams, verb string, targets []string) error {
	if !b.Destructive || !b.All {
		return nil
	}
	return Confirm(ios, b.Yes, Question{Verb: verb, What: b.noun() + "s (--all)", Done: "done", Objects: targets})
}

// Check validates the combination of arguments and flags.
func (b BulkFlags) Check(args []string) error {
	if b.Parallel < 1 {
		return errs.New(errs.Usage, "--parallel must be at least 1")
	}
	if b.All && len(args) > 0 {
		return errs.New(errs.Usage, "give %s names or --all, not both", b.noun())
	}
	if !b.All && len(args) == 0 {
		return errs.New(errs.Usage, "no %s given", b.noun()).WithHint("name one or more %ss, a glob such as 'web-*', or --all", b.noun())
	}
	for _, a := range args {
		if !IsGlob(a) {
			if err := ValidateLookupName(b.noun(), a); err != nil {
				return err
			}
		} else if _, err := path.Match(a, ""); err != nil {
			return errs.New(errs.Usage, "invalid pattern %q", output.Escape(a))
		}
	}
	return nil
}

// IsGlob says whether a target is a shell-style pattern.
func IsGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

// Resolve expands names and globs against the existing names. A plain name is kept even when it
// does not exist, so that it gets its own not-found result; a glob that matches nothing is an
// error of its own. Under --profile or --owner, existing is the scoped list and a plain name
// outside it is unmatched too: a selector never lets a name through that it did not select.
func (b BulkFlags) Resolve(args, existing []string) (targets []string, unmatched []string) {
	if b.All {
		return slices.Clone(existing), nil
	}
	for _, a := range args {
		if !IsGlob(a) {
			if b.Scoped() && !slices.Contains(existing, a) {
				unmatched = append(unmatched, a)
				continue
			}
			targets = append(targets, a)
			continue
		}
		matched := false
		for _, n := range existing {
			if ok, _ := path.Match(a, n); ok {
				targets = append(targets, n)
				matched = true
			}
		}
		if !matched {
			unmatched = append(unmatched, a)
		}
	}
	slices.Sort(targets)
	return slices.Compact(targets), unmatched
}

// RunBulk applies fn to every target with at most parallel at once and returns one result per
// target, sorted by name. Targets not yet begun when ctx ends are reported as interrupted.
func RunBulk(ctx context.Context, targets []string, parallel int, fn func(ctx context.Context, name string) (string, error)) ([]model.Result, []error) {
	results := make([]model.Result, len(targets))
	failures := make([]error, len(targets))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, name := range targets {
		results[i].Name = name
		// Check first: select picks at random when both the slot and Done are ready.
		acquired := false
		if ctx.Err() == nil {
			select {
			case sem <- struct{}{}:
				acquired = true
			case <-ctx.Done():
			}
		}
		if !acquired {
			failures[i] = &errs.Error{Kind: errs.KindOf(ctx.Err()), Msg: "not attempted: " + errs.KindOf(ctx.Err()).String()}
			results[i].Error, results[i].Code = failures[i].Error(), errs.KindOf(ctx.Err()).String()
			continue
		}
		wg.Add(1)
		go func(r *model.Result, failure *error) {
			defer wg.Done()
			defer func() { <-sem }()
			action, err := fn(ctx, r.Name)
			if err != nil { // action is what was done: nothing, for a failure
				*failure = err
				r.Error, r.Code = err.Error(), errs.KindOf(err).String()
				return
			}
			r.Action, r.OK = action, true
		}(&results[i], &failures[i])
	}
	wg.Wait()
	ReportResults(ctx, results...) // the journal's per-target record
	return results, failures
}

// AddUnmatched appends one not-found result per pattern that matched no noun (a VM, a
// network), after RunBulk's results, and reports them to the journal as RunBulk does.
func AddUnmatched(ctx context.Context, noun string, unmatched []string, results []model.Result, failures []error) ([]model.Result, []error) {
	var extra []model.Result
	for _, p := range unmatched {
		extra = append(extra, model.Result{Name: p, Error: "no " + noun + " matches " + p, Code: errs.NotFound.String()})
		failures = append(failures, errs.New(errs.NotFound, "no %s matches %s", noun, p))
	}
	ReportResults(ctx, extra...)
	return append(results, extra...), failures
}

// BulkResultError turns results into the command's error: nil when all succeeded; the single
// failure's own error for one target; a partial error (exit 6) when some failed, or when all
// failed for different reasons.
func BulkResultError(verb string, results []model.Result, failures []error) error {
	var failed []error
	var names []string
	for i, err := range failures {
		if err != nil {
			failed = append(failed, err)
			names = append(names, results[i].Name)
		}
	}
	switch {
	case len(failed) == 0:
		return nil
	case len(results) == 1:
		return errs.Wrap(failed[0], "%s %s", verb, names[0])
	}
	if len(failed) == len(results) {
		kind := errs.KindOf(failed[0])
		same := true
		for _, err := range failed {
			same = same && errs.KindOf(err) == kind
		}
		if same {
			return &errs.Error{Kind: kind, Msg: fmt.Sprintf("%s failed for all %d targets", verb, len(results)), Hint: errs.HintOf(failed[0])}
		}
	}
	return errs.New(errs.Partial, "%s failed for %d of %d targets", verb, len(failed), len(results))
}

// ResultColumns is the table view of bulk results.
var ResultColumns = []output.Column[model.Result]{
	{Header: "name", Value: func(r model.Result) string { return r.Name }},
	{Header: "action", Value: func(r model.Result) string { return output.Dash(r.Action) }},
	{Header: "result", Value: func(r model.Result) string { return output.ResultCell(r.OK, r.Error) }},
}
