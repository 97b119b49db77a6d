package isocmd

import (
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
)

func TestNewCmdList(t *testing.T) {
	clear := func(o *ListOptions) { o.F, o.Cmd, o.Hosts = nil, nil, cmdutil.HostFlags{Hosts: o.Hosts.Hosts} }
	runParseCases(t, NewCmdList, clear, []parseCase[ListOptions]{
		{argv: "", want: ListOptions{}},
		{argv: "--host h1,web", want: ListOptions{Hosts: cmdutil.HostFlags{Hosts: []string{"h1", "web"}}}},
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
