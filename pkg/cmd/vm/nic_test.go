package vm

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"github.com/spf13/cobra"
)

func TestNewCmdNICAttach(t *testing.T) {
	runFlagCases(t, "nic attach", func(f *cmdutil.Factory, r func(context.Context, *NICAttachOptions) error) *cobra.Command {
		return NewCmdNICAttach(f, r)
	}, func(o *NICAttachOptions) string {
		return fmt.Sprintf("%s net=%s br=%s model=%s mac=%s filter=%s(%v) live=%v config=%v update=%v", o.VM, o.Network, o.Bridge, o.Model, o.MAC, o.Filter, o.filterSet, o.Scope.Live, o.Scope.Config, o.Update)
	}, []flagCase{
		{argv: []string{"web", "--network", "lab"}, want: "web net=lab br= model=virtio mac= filter=clean-traffic(false) live=false config=false update=false"},
		{argv: []string{"web", "--bridge", "br0", "--model", "e1000e", "--mac", "52-54-00-AB-CD-EF", "--filter", "none", "--live"},
			want: "web net= br=br0 model=e1000e mac=52:54:00:ab:cd:ef filter=none(true) live=true config=false update=false"},
		{argv: []string{"web", "--network", "lab", "--config"}, want: "web net=lab br= model=virtio mac= filter=clean-traffic(false) live=false config=true update=false"},
		{argv: []string{"web", "--network", "lab", "--update-profile"}, want: "web net=lab br= model=virtio mac= filter=clean-traffic(false) live=false config=false update=true"},
		{argv: []string{"web"}, err: errs.Usage},                                                   // neither
		{argv: []string{"web", "--network", "a", "--bridge", "b"}, err: errs.Usage},                // both
		{argv: []string{"web", "--network", "lab", "--mac", "01:00:5e:00:00:01"}, err: errs.Usage}, // multicast
		{argv: []string{"web", "--network", "lab", "--mac", "00:00:00:00:00:00"}, err: errs.Usage}, // all zero
		{argv: []string{"web", "--network", "lab", "--mac", "52:54:00:zz:00:01"}, err: errs.Usage},
		{argv: []string{"web", "--network", "lab", "--mac", "02:00:00:00:00:00:00:01"}, err: errs.Usage}, // EUI-64
		{argv: []string{"web", "--network", "lab", "--model", "ne2k"}, err: errs.Usage},
		{argv: []string{"web", "--bridge", "a-very-long-bridge-name"}, err: errs.Usage},
		{argv: []string{"web", "--bridge", "br/0"}, err: errs.Usage},
		{argv: []string{"web", "--network", "a/b"}, err: errs.Usage},
		{argv: []string{"web", "--network", "lab", "--filter", "bad filter"}, err: errs.Usage},
	})
}

func TestNewCmdNICDetach(t *testing.T) {
	runFlagCases(t, "nic detach", func(f *cmdutil.Factory, r func(context.Context, *NICDetachOptions) error) *cobra.Command {
		return NewCmdNICDetach(f, r)
	}, func(o *NICDetachOptions) string {
		return fmt.Sprintf("%s %s live=%v config=%v wait=%s", o.VM, o.NIC, o.Scope.Live, o.Scope.Config, o.Wait)
	}, []flagCase{
		{argv: []string{"web", "52:54:00:AB:CD:EF"}, want: "web 52:54:00:ab:cd:ef live=false config=false wait=30s"},
		{argv: []string{"web", "vnet3", "--live", "--timeout", "5s"}, want: "web vnet3 live=true config=false wait=5s"},
		{argv: []string{"web", "01:00:5e:00:00:01"}, err: errs.Usage},
		{argv: []string{"web", "not a device"}, err: errs.Usage},
		{argv: []string{"web"}, err: errs.Usage},
	})
}

func TestNewCmdNICList(t *testing.T) {
	runFlagCases(t, "nic list", func(f *cmdutil.Factory, r func(context.Context, *NICListOptions) error) *cobra.Command {
		return NewCmdNICList(f, r)
	}, func(o *NICListOptions) string { return o.VM }, []flagCase{
		{argv: []string{"web"}, want: "web"},
		{argv: []string{"web", "-o", "name"}, want: "web"},
		{argv: []string{}, err: errs.Usage},
	})
}

func TestNewCmdNICLink(t *testing.T) {
	runFlagCases(t, "nic link", func(f *cmdutil.Factory, r func(context.Context, *NICLinkOptions) error) *cobra.Command {
		return NewCmdNICLink(f, r)
	}, func(o *NICLinkOptions) string {
		return fmt.Sprintf("%s %s up=%v live=%v config=%v", o.VM, o.NIC, o.Up, o.Scope.Live, o.Scope.Config)
	}, []flagCase{
		{argv: []string{"web", "52:54:00:ab:cd:ef", "down"}, want: "web 52:54:00:ab:cd:ef up=false live=false config=false"},
		{argv: []string{"web", "vnet0", "up", "--live"}, want: "web vnet0 up=true live=true config=false"},
		{argv: []string{"web", "vnet0", "sideways"}, err: errs.Usage},
		{argv: []string{"web", "vnet0"}, err: errs.Usage},
	})
}

func TestNICsOnTestDriver(t *testing.T) {
	c := virttest.Open(t)
	virttest.Define(t, c, `<domain type='test'><name>off</name><memory>65536</memory><os><type>hvm</type></os><devices>
<interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='br0'/><model type='e1000e'/><link state='down'/></interface></devices></domain>`)
	out, _, err := runDevice(t, nil, runNICList, &NICListOptions{VM: "off"}, func(o *NICListOptions, f *cmdutil.Factory) { o.F = f })
	var nics []model.VMNIC
	if err == nil {
		err = json.Unmarshal([]byte(out), &nics)
	}
	if err != nil || len(nics) != 1 {
		t.Fatalf("list: %v %s", err, out)
	}
	if n := nics[0]; n.MAC != "52:54:00:00:00:02" || n.Type != "bridge" || n.Source != "br0" || n.Model != "e1000e" || n.Link != "down" || n.Definition != "config" || n.Addresses == nil {
		t.Errorf("off's NIC: %+v", n)
	}
	out, _, err = runDevice(t, nil, runNICList, &NICListOptions{VM: "test"}, func(o *NICListOptions, f *cmdutil.Factory) { o.F = f })
	if err != nil || !strings.Contains(out, `"mac":"aa:bb:cc:dd:ee:ff"`) || !strings.Contains(out, `"definition":"both"`) || !strings.Contains(out, `"link":"up"`) {
		t.Errorf("test's NICs: %v %s", err, out)
	}

	for _, tc := range []struct {
		name string
		run  func() error
		kind errs.Kind
		msg  string
	}{
		{"MAC of this VM", func() error {
			_, _, err := runDevice(t, nil, runNICAttach, &NICAttachOptions{VM: "test", Network: "default", Model: "virtio", MAC: "aa:bb:cc:dd:ee:ff", Filter: "none"},
				func(o *NICAttachOptions, f *cmdutil.Factory) { o.F = f })
			return err
		}, errs.Conflict, "already has a NIC with MAC"},
		{"MAC of another VM", func() error {
			_, _, err := runDevice(t, nil, runNICAttach, &NICAttachOptions{VM: "test", Network: "default", Model: "virtio", MAC: "52:54:00:00:00:02", Filter: "none"},
				func(o *NICAttachOptions, f *cmdutil.Factory) { o.F = f })
			return err
		}, errs.Conflict, "taken by off"},
		{"--live on a stopped VM", func() error {
			_, _, err := runDevice(t, nil, runNICAttach, &NICAttachOptions{VM: "off", Network: "default", Model: "virtio", Filter: "none", Scope: scopeFlags{Live: true}},
				func(o *NICAttachOptions, f *cmdutil.Factory) { o.F = f })
			return err
		}, errs.Conflict, "not running"},
		{"detach an unknown NIC", func() error {
			_, _, err := runDevice(t, nil, runNICDetach, &NICDetachOptions{VM: "test", NIC: "52:54:00:00:00:09"},
				func(o *NICDetachOptions, f *cmdutil.Factory) { o.F, o.Wait = f, time.Second })
			return err
		}, errs.NotFound, "has no NIC"},
		{"link of an unknown NIC", func() error {
			_, _, err := runDevice(t, nil, runNICLink, &NICLinkOptions{VM: "off", NIC: "vnet9"},
				func(o *NICLinkOptions, f *cmdutil.Factory) { o.F = f })
			return err
		}, errs.NotFound, "has no NIC vnet9"},
	} {
		if err := tc.run(); errs.KindOf(err) != tc.kind || err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want a %v error with %q", tc.name, err, tc.kind, tc.msg)
		}
	}

	// A NIC already in the asked state is left alone; found by its host-side device too.
	out, _, err = runDevice(t, nil, runNICLink, &NICLinkOptions{VM: "test", NIC: "testnet0", Up: true},
		func(o *NICLinkOptions, f *cmdutil.Factory) { o.F = f })
	var ch model.DeviceChange
	if err == nil {
		err = json.Unmarshal([]byte(out), &ch)
	}
	if err != nil || ch.Action != "none" || ch.MAC != "aa:bb:cc:dd:ee:ff" || ch.Target != "testnet0" || !ch.Live || !ch.Config {
		t.Errorf("link up of an up NIC: %+v %v", ch, err)
	}
}
