package vm

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// ProfileShowOptions of `vm profile show`.
type ProfileShowOptions struct {
	F       *cmdutil.Factory
	Profile string
}

// NewCmdProfileShow builds `vm profile show`.
func NewCmdProfileShow(f *cmdutil.Factory, runF func(context.Context, *ProfileShowOptions) error) *cobra.Command {
	opts := &ProfileShowOptions{F: f}
	cmd := &cobra.Command{
		Use:     "show PROFILE",
		Short:   "Print a profile as it applies: after extends and the configured defaults",
		Example: "  vmctl profile show web01\n  vmctl profile show web01 --jq .memory",
		Args:    cmdutil.ExactArgs(1, "one profile"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Profile = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runProfileShow(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runProfileShow(_ context.Context, o *ProfileShowOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	p, _, _, err := loadProfile(o.F, o.Profile)
	if err != nil {
		return err
	}
	// The table view is the JSON flattened to dotted keys: one model, two renderings.
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		return err
	}
	var pairs [][2]string
	flatten("", generic, &pairs)
	return output.Object(o.F.IO.Out, format, p, pairs)
}

func flatten(prefix string, v any, out *[][2]string) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, x[k], out)
		}
	case []any:
		for i, el := range x {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), el, out)
		}
	default:
		*out = append(*out, [2]string{prefix, fmt.Sprint(x)})
	}
}
