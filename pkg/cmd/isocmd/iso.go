// Package isocmd implements the isoctl tree: install media and cloud images you can trust. One
// file per verb; store.go holds what the verbs share (the two stores, finding an image, the
// remote path through libvirt) and complete.go the shell completions.
package isocmd

import (
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/spf13/cobra"
)

// NewCmdISO builds the iso tree (isoctl).
func NewCmdISO(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "iso",
		Aliases: []string{"isoctl"},
		Short:   "Install media and cloud images: verified pulls, the store, seeds",
		Long: `Keep install ISOs and cloud images in a store you can trust. Every pull is verified
against a checksum (a SHA-256/512 given, or the publisher's checksum file) before it is
published; a failed or interrupted pull leaves nothing where vmctl would see it and resumes
when run again where the server allows it. Each image has a provenance record beside it
(NAME.record.json). ISOs go to paths.isos, other images to paths.images; both are libvirt
storage pools (the pool already serving the directory, else hvctl-isos and hvctl-images for
the default paths, hvctl-isos-HASH for others) so profiles can name them. Verification
failures exit 8.`,
	}
	cmd.AddCommand(
		NewCmdPull(f, nil), NewCmdList(f, nil), NewCmdShow(f, nil), NewCmdVerify(f, nil), NewCmdRm(f, nil),
		NewCmdSeed(f, nil), NewCmdAttach(f, nil), NewCmdEject(f, nil), NewCmdImport(f, nil), NewCmdInspect(f, nil),
		NewCmdCatalog(f, nil), NewCmdPartials(f, nil),
	)
	return cmd
}
