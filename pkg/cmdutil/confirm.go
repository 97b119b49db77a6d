package cmdutil

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/iostreams"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// AddYesFlag registers -y/--yes on a destructive command.
func AddYesFlag(cmd *cobra.Command, yes *bool) {
	cmd.Flags().BoolVarP(yes, "yes", "y", false, "do not ask for confirmation (needed without a terminal)")
}

// ConfirmHelp is the sentence destructive commands append to their long help.
const ConfirmHelp = "On a terminal the command lists what it will act on and asks for confirmation; elsewhere it needs --yes."

// Question describes one destructive action for Confirm.
type Question struct {
	Verb    string   // what is done: "delete"
	What    string   // to what: "VM definitions"
	Done    string   // the verb's past participle for "nothing deleted" (default "done")
	Objects []string // the matched targets, after glob expansion: never the glob itself
	// Prompt, when set, is the whole question in lower case without "?" ("prune 3 journal
	// records older than 90d from …"), for an action on a count rather than on named objects;
	// Objects then only says whether there is anything to ask about.
	Prompt string
}

// ErrNotConfirmed is the cause of every refusal of Confirm. The refusal is reported as Confirm
// worded it, whatever context a command wrapped around it, so that every tree refuses alike.
var ErrNotConfirmed = errors.New("not confirmed")

// NotConfirmed returns Confirm's own refusal inside err, nil when err is none.
func NotConfirmed(err error) *errs.Error {
	for ; err != nil; err = errors.Unwrap(err) {
		if e, ok := err.(*errs.Error); ok && e.Err == ErrNotConfirmed {
			return e
		}
	}
	return nil
}

// Confirm is the one confirmation model for destructive actions. With yes it agrees at once;
// on a terminal it lists the objects on stderr and reads y/N from stdin; without a terminal it
// refuses with a usage error (exit 2), so a cron job never acts on a guess. An empty list needs
// no confirmation: nothing will be done.
func Confirm(ios *iostreams.IOStreams, yes bool, q Question) error {
	if yes || len(q.Objects) == 0 {
		return nil
	}
	done := q.Done
	if done == "" {
		done = "done"
	}
	if !ios.CanPrompt() {
		e := errs.New(errs.Usage, "not confirmed: refusing to %s without confirmation (use --yes)", q.Verb)
		e.Err = ErrNotConfirmed
		if q.Prompt != "" {
			return e.WithHint("would %s; add --yes to go ahead without a terminal", output.Escape(q.Prompt))
		}
		return e.WithHint("would %s %s: %s; add --yes to go ahead without a terminal", q.Verb, q.What, summary(q.Objects))
	}
	if q.Prompt != "" {
		fmt.Fprintf(ios.ErrOut, "%s? [y/N] ", capitalise(output.Escape(q.Prompt)))
	} else if len(q.Objects) == 1 {
		fmt.Fprintf(ios.ErrOut, "%s %s: %s? [y/N] ", capitalise(q.Verb), q.What, output.Escape(q.Objects[0]))
	} else {
		fmt.Fprintf(ios.ErrOut, "%s these %d %s:\n", capitalise(q.Verb), len(q.Objects), q.What)
		for _, o := range q.Objects {
			fmt.Fprintf(ios.ErrOut, "  %s\n", output.Escape(o))
		}
		fmt.Fprint(ios.ErrOut, "Continue? [y/N] ")
	}
	answer, _ := bufio.NewReader(ios.In).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	e := errs.New(errs.Usage, "not confirmed; nothing %s", done)
	e.Err = ErrNotConfirmed
	return e
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// summary names up to three objects and counts the rest, for a one-line message.
func summary(objects []string) string {
	const shown = 3
	quoted := make([]string, 0, shown)
	for _, o := range objects[:min(shown, len(objects))] {
		quoted = append(quoted, output.Escape(o))
	}
	s := strings.Join(quoted, ", ")
	if len(objects) > shown {
		s += fmt.Sprintf(" and %d more", len(objects)-shown)
	}
	return s
}
