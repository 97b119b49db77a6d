package isocmd

import "testing"

func TestNewCmdRm(t *testing.T) {
	runParseCases(t, NewCmdRm, func(o *RmOptions) { o.F = nil }, []parseCase[RmOptions]{
		{argv: "a.iso", want: RmOptions{Name: "a.iso"}},
		{argv: "a.iso --force", want: RmOptions{Name: "a.iso", Force: true}},
		{argv: "a.iso -y", want: RmOptions{Name: "a.iso", Yes: true}},
		{argv: "a.iso --json", wantErr: "unknown flag: --json"},
		{argv: "", wantErr: "takes one image name, got 0"},
		{argv: "a.iso b.iso", wantErr: "got 2"},
	})
}
