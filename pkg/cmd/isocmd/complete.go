package isocmd

import (
	"context"
	"slices"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/spf13/cobra"
)

// addStoreFlag registers --store: validated at parse time and completed from one list.
func addStoreFlag(cmd *cobra.Command, store *string) {
	cmdutil.StringEnumFlag(cmd, store, "store", "", "", storeNames, "the store (when not given: by extension)")
}

// imageNames are the stored images' file names and the catalogue entries they were pulled as
// (both name an image), sorted and unique.
func imageNames(ctx context.Context, f *cmdutil.Factory) []string {
	var out []string
	if remote(f) {
		all, err := stores(f)
		if err != nil {
			return nil
		}
		entries, err := listRemote(ctx, f, all, nil)
		if err != nil {
			return nil
		}
		for _, e := range entries {
			out = append(out, e.Name)
		}
	} else {
		all, err := stores(f)
		if err != nil {
			return nil
		}
		for _, s := range all {
			for _, r := range iso.Records(s.dir) {
				out = append(out, r.Name)
				if r.Catalog != "" {
					out = append(out, r.Catalog)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// completeImages completes stored images, as many as the command takes (show and rm take one).
func completeImages(f *cmdutil.Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 && cmd.Name() != "verify" {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), cmdutil.CompletionTimeout)
		defer cancel()
		return without(imageNames(ctx, f), args), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeCatalog completes catalogue entries (pull's NAME; a URL is typed).
func completeCatalog(f *cmdutil.Factory) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := catalog(f)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		names := make([]string, 0, len(c))
		for _, e := range c {
			names = append(names, e.Name+"\t"+e.Description)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeVMThenImage completes a VM name first and, for attach, a stored image second.
func completeVMThenImage(f *cmdutil.Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		ctx, cancel := context.WithTimeout(context.Background(), cmdutil.CompletionTimeout)
		defer cancel()
		switch {
		case len(args) == 0:
			return cmdutil.VMNameCompletions(ctx, f)
		case len(args) == 1 && cmd.Name() == "attach":
			return imageNames(ctx, f), cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

func without(names, taken []string) []string {
	return slices.DeleteFunc(names, func(n string) bool { return slices.Contains(taken, n) })
}
