package isocmd

import "testing"

func TestNewCmdSeed(t *testing.T) {
	runParseCases(t, NewCmdSeed, func(o *SeedOptions) { o.F = nil }, []parseCase[SeedOptions]{
		{argv: "out.iso --hostname web01 --user ops --ssh-key k.pub --network-config nc",
			want: SeedOptions{Out: "out.iso", Hostname: "web01", User: "ops", SSHKey: "k.pub", NetworkConfig: "nc"}},
		{argv: "out.iso --hostname web01.lab --user-data ud --network-config nc",
			want: SeedOptions{Out: "out.iso", Hostname: "web01.lab", UserData: "ud", NetworkConfig: "nc"}},
		// The user-data file would replace the cloud-config the user and key go into.
		{argv: "out.iso --hostname web01 --user ops --user-data ud", wantErr: "give --user-data or --user and --ssh-key, not both"},
		{argv: "out.iso --hostname web01 --ssh-key k.pub --user-data ud", wantErr: "not both"},
		{argv: "out.iso --hostname web_01", wantErr: "not a valid hostname"},
		{argv: "out.iso --hostname web..lab", wantErr: "not a valid hostname"},
		{argv: "out.iso --hostname h --yes", want: SeedOptions{Out: "out.iso", Hostname: "h", Yes: true}},
		{argv: "out.iso", wantErr: "--hostname is required"},
		{argv: "--hostname web01", wantErr: "takes the output file, got 0"},
	})
}
