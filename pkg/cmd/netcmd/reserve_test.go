package netcmd

import (
	"context"
	"testing"
)

func TestNewCmdReserve(t *testing.T) {
	for _, c := range []struct {
		args         []string
		mac, ip, hst string
		wantErr      string
	}{
		{args: []string{"lab", "--mac", "52:54:00:12:34:56", "--ip", "10.50.0.10"}, mac: "52:54:00:12:34:56", ip: "10.50.0.10"},
		// Any form net.ParseMAC reads, written back as libvirt writes it.
		{args: []string{"lab", "--mac", "52-54-00-AB-CD-EF", "--ip", "10.50.0.10", "--name", "web01"}, mac: "52:54:00:ab:cd:ef", ip: "10.50.0.10", hst: "web01"},
		{args: []string{"lab", "--mac", "5254.00ab.cdef", "--ip", "10.50.0.10"}, mac: "52:54:00:ab:cd:ef", ip: "10.50.0.10"},
		{args: []string{"lab", "--mac", "01:54:00:aa:bb:cc", "--ip", "10.50.0.10"}, wantErr: "multicast"},
		{args: []string{"lab", "--mac", "52:54:00:zz:00:01", "--ip", "10.50.0.10"}, wantErr: "six hex pairs"},
		{args: []string{"lab", "--mac", "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01", "--ip", "10.50.0.10"}, wantErr: "six hex pairs"},
		{args: []string{"lab", "--mac", "52:54:00:12:34:56", "--ip", "fd00::1"}, wantErr: "want an IPv4 address"},
		{args: []string{"lab", "--mac", "52:54:00:12:34:56", "--ip", "10.50.0.10", "--name", "bad name"}, wantErr: "invalid host name"},
		{args: []string{"lab", "--ip", "10.50.0.10"}, wantErr: "mac"},
		{args: []string{"--mac", "52:54:00:12:34:56", "--ip", "10.50.0.10"}, wantErr: "takes one network"},
	} {
		f, _ := testFactory(t)
		var got *ReserveOptions
		err := parse(f, NewCmdReserve(f, func(_ context.Context, o *ReserveOptions) error { got = o; return nil }), c.args...)
		if c.wantErr != "" {
			wantUsage(t, c.args, err, c.wantErr)
			continue
		}
		if err != nil || got.Network != "lab" || got.MAC != c.mac || got.IP.String() != c.ip || got.Host != c.hst {
			t.Errorf("%q: %v, %+v", c.args, err, got)
		}
	}
}

func TestNewCmdUnreserve(t *testing.T) {
	for _, c := range []struct {
		args    []string
		mac, ip string
		wantErr string
	}{
		{args: []string{"lab", "--mac", "52:54:00:AB:CD:EF"}, mac: "52:54:00:ab:cd:ef"},
		{args: []string{"lab", "--ip", "10.50.0.10"}, ip: "10.50.0.10"},
		{args: []string{"lab"}, wantErr: "give --mac or --ip"},
		{args: []string{"lab", "--mac", "52:54:00:12:34:56", "--ip", "10.50.0.10"}, wantErr: "mac"},
		{args: []string{"lab", "--mac", "nope"}, wantErr: "six hex pairs"},
		{args: []string{"lab", "--ip", "10.50.0"}, wantErr: "want an IPv4 address"},
	} {
		f, _ := testFactory(t)
		var got *UnreserveOptions
		err := parse(f, NewCmdUnreserve(f, func(_ context.Context, o *UnreserveOptions) error { got = o; return nil }), c.args...)
		if c.wantErr != "" {
			wantUsage(t, c.args, err, c.wantErr)
			continue
		}
		if err != nil || got.Network != "lab" || got.MAC != c.mac || got.IP != c.ip {
			t.Errorf("%q: %v, %+v", c.args, err, got)
		}
	}
}
