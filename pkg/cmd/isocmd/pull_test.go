package isocmd

import "testing"

func TestNewCmdPull(t *testing.T) {
	const sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	runParseCases(t, NewCmdPull, func(o *PullOptions) { o.F = nil }, []parseCase[PullOptions]{
		{argv: "debian-netinst", want: PullOptions{Ref: "debian-netinst"}},
		{argv: "https://x/a.iso --sha256 " + sha + " --name b.iso --store isos --max-size 2GiB",
			want: PullOptions{Ref: "https://x/a.iso", SHA: sha, Name: "b.iso", Store: "isos", MaxBytes: 2 << 30}},
		{argv: "https://x/a.iso --checksum-url https://x/SUMS --signature-url https://x/SUMS.gpg --key-url k.asc --key AA --key BB --dry-run",
			want: PullOptions{Ref: "https://x/a.iso", ChecksumURL: "https://x/SUMS", SignatureURL: "https://x/SUMS.gpg", KeyURL: "k.asc", Keys: []string{"AA", "BB"}, DryRun: true}},
		{argv: "https://x/a.iso --insecure --via-libvirt", want: PullOptions{Ref: "https://x/a.iso", Insecure: true, ViaLibvirt: true}},
		{argv: "", wantErr: "takes one URL or catalogue name, got 0"},
		{argv: "a b", wantErr: "got 2 argument(s)"},
		{argv: "https://x/a.iso --sha256 " + sha + " --checksum-url https://x/SUMS", wantErr: "not both"},
		{argv: "https://x/a.iso --sha256 1234", wantErr: "--sha256: checksum \"1234\""},
		{argv: "https://x/a.iso --max-size lots", wantErr: "--max-size \"lots\""},
		{argv: "https://x/a.iso --store disks", wantErr: `--store "disks": want one of isos, images`},
	})
}
