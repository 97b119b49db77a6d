package isocmd

import "testing"

func TestNewCmdSeed(t *testing.T) {
	runParseCases(t, NewCmdSeed, func(o *SeedOptions) { o.F = nil }, []parseCase[SeedOptions]{
		{argv: "out.iso --hostname web01 --user ops --ssh-key k.pub --user-data ud --network-config nc",
			want: SeedOptions{Out: "out.iso", Hostname: "web01", User: "ops", SSHKey: "k.pub", UserData: "ud", NetworkConfig: "nc"}},
		{argv: "out.iso --hostname h --yes", want: SeedOptions{Out: "out.iso", Hostname: "h", Yes: true}},
		{argv: "out.iso", wantErr: "--hostname is required"},
		{argv: "--hostname web01", wantErr: "takes the output file, got 0"},
	})
}
