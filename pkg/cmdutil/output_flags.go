package cmdutil

import (
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/iostreams"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// OutputFlags are the flags of commands that print data: --json, --jq, -o and --no-headers.
// Only such commands have them, so `vmctl xml NAME --json` is an unknown flag (exit 2) instead
// of being silently ignored.
type OutputFlags struct {
	JSON      bool
	JQ        string
	Output    string
	NoHeaders bool
	Zero      bool // -0: names NUL-separated (-o name)
}

// AddOutputFlags registers the output flags on a command that prints data. What o already
// holds stays (pflag would otherwise reset it to the flag's default): tests preset it.
func AddOutputFlags(cmd *cobra.Command, o *OutputFlags) {
	fl := cmd.Flags()
	// A command may render more formats itself (AnnFormats): help and completion offer them too.
	kinds := output.Kinds
	if extra := cmd.Annotations[AnnFormats]; extra != "" {
		kinds = append(slices.Clone(kinds), strings.Split(extra, ",")...)
	}
	fl.BoolVar(&o.JSON, "json", o.JSON, "print the result as JSON")
	fl.StringVar(&o.JQ, "jq", o.JQ, "filter the JSON result through a jq `EXPRESSION` (implies --json; strings print raw)")
	fl.StringVarP(&o.Output, "output", "o", o.Output, "output `FORMAT`: "+strings.Join(kinds, ", "))
	fl.BoolVar(&o.NoHeaders, "no-headers", o.NoHeaders, "print tables without the header line")
	fl.BoolVarP(&o.Zero, "null", "0", o.Zero, "with -o name: end each name with NUL instead of a newline (for xargs -0)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(kinds, cobra.ShellCompDirectiveNoFileComp))
}

// Format validates the flags and says what to print; pretty JSON and escaped names only for a
// person at a terminal.
func (o OutputFlags) Format(ios *iostreams.IOStreams) (output.Format, error) {
	f, err := output.ParseFormat(o.Output, o.JSON, o.JQ, o.NoHeaders)
	f.Pretty = ios.IsStdoutTTY()
	f.Terminal = ios.IsStdoutTTY()
	f.Zero = o.Zero
	if err == nil && o.Zero && f.Kind != output.Name {
		err = usageError("-0 needs -o name")
	}
	return f, err
}

// HasOutputFlags says whether cmd prints data (has the output flags).
func HasOutputFlags(cmd *cobra.Command) bool { return cmd.Flags().Lookup("json") != nil }

// WantsJSON says whether the invocation asked for JSON: from cmd's parsed flags when it has
// them, else from the raw arguments (a flag error can stop parsing before --json is seen, and a
// command without the flags rejects --json, yet the caller still reads stderr as JSON).
func WantsJSON(cmd *cobra.Command, args []string) bool {
	if cmd != nil && HasOutputFlags(cmd) && cmd.Flags().Parsed() {
		fl := cmd.Flags()
		if fl.Lookup("json").Value.String() == "true" || fl.Lookup("jq").Value.String() != "" || fl.Lookup("output").Value.String() == "json" {
			return true
		}
	}
	end := slices.Index(args, "--")
	if end < 0 {
		end = len(args)
	}
	for i, a := range args[:end] {
		switch {
		case a == "--json", a == "--json=true", strings.HasPrefix(a, "--jq"),
			a == "-ojson", a == "--output=json", a == "-o=json":
			return true
		case (a == "-o" || a == "--output") && i+1 < end && args[i+1] == "json":
			return true
		}
	}
	return false
}
