package isocmd

import "testing"

func TestNewCmdShow(t *testing.T) {
	runParseCases(t, NewCmdShow, func(o *ShowOptions) { o.F = nil }, []parseCase[ShowOptions]{
		{argv: "debian.iso", want: ShowOptions{Name: "debian.iso"}},
		{argv: "debian-netinst", want: ShowOptions{Name: "debian-netinst"}},
		{argv: "", wantErr: "takes one image name, got 0"},
		{argv: "a b", wantErr: "got 2"},
	})
}

func TestNewCmdInspect(t *testing.T) {
	runParseCases(t, NewCmdInspect, func(o *InspectOptions) { o.F = nil }, []parseCase[InspectOptions]{
		{argv: "/tmp/x.iso", want: InspectOptions{Target: "/tmp/x.iso"}},
		{argv: "", wantErr: "takes a file or a stored image, got 0"},
	})
}
