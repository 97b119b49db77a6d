package isocmd

import "testing"

func TestNewCmdVerify(t *testing.T) {
	runParseCases(t, NewCmdVerify, func(o *VerifyOptions) { o.F = nil }, []parseCase[VerifyOptions]{
		{argv: "a.iso b.qcow2", want: VerifyOptions{Names: []string{"a.iso", "b.qcow2"}}},
		{argv: "--all", want: VerifyOptions{All: true, Names: []string{}}},
		{argv: "", wantErr: "name images or give --all"},
		{argv: "a.iso --all", wantErr: "name images or give --all"},
	})
}
