package isocmd

import (
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/iso"
)

func TestNewCmdVerify(t *testing.T) {
	clear := func(o *VerifyOptions) { o.F, o.Cmd, o.Hosts = nil, nil, cmdutil.HostFlags{Hosts: o.Hosts.Hosts} }
	runParseCases(t, NewCmdVerify, clear, []parseCase[VerifyOptions]{
		{argv: "--all --host all", want: VerifyOptions{All: true, Names: []string{}, Hosts: cmdutil.HostFlags{Hosts: []string{"all"}}}},
		{argv: "a.iso b.qcow2", want: VerifyOptions{Names: []string{"a.iso", "b.qcow2"}}},
		{argv: "--all", want: VerifyOptions{All: true, Names: []string{}}},
		{argv: "", wantErr: "name images or give --all"},
		{argv: "a.iso --all", wantErr: "name images or give --all"},
	})
}

func TestRemoteUnaccounted(t *testing.T) {
	files := []string{"/s/a.iso", "/s/a.iso.record.json", "/s/b.iso", "/s/c.iso", "/s/c.iso.record.json", "/s/.x.partial", "/s/old.iso", "/s/old.iso.json"}
	records := map[string]iso.Record{"/s/a.iso": {Name: "a.iso"}, "/s/old.iso": {Name: "old.iso"}} // c.iso's record is unreadable
	var got []string
	for _, p := range remoteUnaccounted(files, records) {
		got = append(got, p.Name)
	}
	if strings.Join(got, " ") != "b.iso c.iso" {
		t.Errorf("unaccounted: %v", got)
	}
}
