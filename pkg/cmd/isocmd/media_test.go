package isocmd

import "testing"

func TestNewCmdAttach(t *testing.T) {
	runParseCases(t, NewCmdAttach, func(o *AttachOptions) { o.F = nil }, []parseCase[AttachOptions]{
		{argv: "web01 debian.iso", want: AttachOptions{VM: "web01", Image: "debian.iso"}},
		{argv: "web01", wantErr: "takes a VM and an image name, got 1"},
		{argv: "bad/name debian.iso", wantErr: "invalid VM name"},
	})
}

func TestNewCmdEject(t *testing.T) {
	runParseCases(t, NewCmdEject, func(o *EjectOptions) { o.F = nil }, []parseCase[EjectOptions]{
		{argv: "web01", want: EjectOptions{VM: "web01"}},
		{argv: "", wantErr: "takes a VM, got 0"},
		{argv: "bad/name", wantErr: "invalid VM name"},
	})
}
