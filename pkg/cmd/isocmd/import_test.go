package isocmd

import "testing"

func TestNewCmdImport(t *testing.T) {
	const sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	runParseCases(t, NewCmdImport, func(o *ImportOptions) { o.F = nil }, []parseCase[ImportOptions]{
		{argv: "a.iso --name b.iso --sha256 " + sha + " --store isos", want: ImportOptions{Path: "a.iso", Name: "b.iso", SHA: sha, Store: "isos"}},
		{argv: "--legacy /var/lib/hypervisor/isos", want: ImportOptions{Path: "/var/lib/hypervisor/isos", Legacy: true}},
		{argv: "--legacy dir --name x", wantErr: "do not apply"},
		{argv: "a.iso --sha256 zz", wantErr: "--sha256"},
		{argv: "a.iso --store nowhere", wantErr: `--store "nowhere": want one of isos, images`},
		{argv: "", wantErr: "takes a file or, with --legacy, a directory, got 0"},
	})
}
