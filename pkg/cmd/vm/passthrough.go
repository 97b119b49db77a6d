package vm

import (
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Commands that hand what follows -- to another program (exec's guest command, ssh's
// arguments) meet cobra reading every flag-like word as their own: `vmctl exec web01 ls -l`
// failed with "unknown shorthand flag: 'l' in -l", and `ls -n` lost its -n to exec's
// --no-stdin. Without a --, both errors say to put one, with the line corrected.

// dashedLine rewrites the command line of cmd (f.Argv) with -- before the word that follows
// the VM name: "vmctl exec web01 ls -l" becomes "vmctl exec web01 -- ls -l", the flags the
// user gave before that word staying the command's own. ok is false when there is no such
// word or the line has a -- already.
func dashedLine(f *cmdutil.Factory, cmd *cobra.Command) (line string, ok bool) {
	argv := f.Argv
	if len(argv) > 0 {
		argv = argv[1:]
	}
	at := -1
	for i, a := range argv {
		if a == cmd.Name() {
			at = i
			break
		}
		if a == "--" {
			return "", false
		}
	}
	if at < 0 {
		return "", false
	}
	rest := argv[at+1:]
	words := 0
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			return "", false
		case len(a) > 1 && a[0] == '-':
			if takesNextWord(cmd.Flags(), a) {
				i++
			}
		default:
			if words++; words == 2 {
				ours, theirs := rest[:i], rest[i:]
				for _, w := range theirs {
					if w == "--" {
						return "", false
					}
				}
				return strings.Join(append(append(strings.Fields(cmd.CommandPath()), shellWords(ours)...), append([]string{"--"}, shellWords(theirs)...)...), " "), true
			}
		}
	}
	return "", false
}

// takesNextWord says whether the flag word a (--name, -n, -abc) of fs takes the next word as
// its value. An unknown flag takes none.
func takesNextWord(fs *pflag.FlagSet, a string) bool {
	if name, ok := strings.CutPrefix(a, "--"); ok {
		if strings.Contains(name, "=") {
			return false
		}
		fl := fs.Lookup(name)
		return fl != nil && fl.NoOptDefVal == ""
	}
	for i, c := range a[1:] { // -abc: shorthands, the first that takes a value takes the rest
		fl := fs.ShorthandLookup(string(c))
		if fl == nil {
			return false
		}
		if fl.NoOptDefVal == "" {
			return i == len(a)-2
		}
	}
	return false
}

// shellWords quotes words the way a shell needs them typed again ('web 1'), escaped for the
// terminal.
func shellWords(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		if w == "" || strings.Trim(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-~") != "" {
			w = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
		out[i] = output.Escape(w)
	}
	return out
}

// dashFlagErrors makes a flag error of cmd on a line without -- say to put one: the unknown
// flag belongs to the other program. Other flag errors stay the root's.
func dashFlagErrors(f *cmdutil.Factory, cmd *cobra.Command, what string) {
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		if line, ok := dashedLine(f, c); ok {
			return errs.New(errs.Usage, "%s: %v: put %s after --: %s", c.Name(), err, what, line).
				WithHint("%s reads the flags before -- as its own", c.CommandPath())
		}
		return c.Parent().FlagErrorFunc()(c, err)
	})
}
