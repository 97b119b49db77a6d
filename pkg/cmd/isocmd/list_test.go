package isocmd

import "testing"

func TestNewCmdList(t *testing.T) {
	runParseCases(t, NewCmdList, func(o *ListOptions) { o.F = nil }, []parseCase[ListOptions]{
		{argv: "", want: ListOptions{}},
		{argv: "x", wantErr: "takes no arguments, got 1"},
	})
}

func TestNewCmdCatalog(t *testing.T) {
	runParseCases(t, NewCmdCatalog, func(o *CatalogOptions) { o.F = nil }, []parseCase[CatalogOptions]{
		{argv: "", want: CatalogOptions{}},
		{argv: "debian", wantErr: "takes no arguments, got 1"},
	})
}

func TestNewCmdPartials(t *testing.T) {
	runParseCases(t, NewCmdPartials, func(o *PartialsOptions) { o.F = nil }, []parseCase[PartialsOptions]{
		{argv: "", want: PartialsOptions{Names: []string{}}},
		{argv: "--clear --yes", want: PartialsOptions{Clear: true, Yes: true, Names: []string{}}},
		{argv: "--clear a.iso b.iso", want: PartialsOptions{Clear: true, Names: []string{"a.iso", "b.iso"}}},
		{argv: "a.iso", wantErr: "give --clear"},
	})
}
