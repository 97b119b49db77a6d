package virt

import (
	"context"
	"strings"
	"testing"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

func TestValidXML(t *testing.T) {
	for in, want := range map[string]string{
		"<title>plain</title>":            "<title>plain</title>",
		"<title>a\x1b[31mred</title>":     "<title>a\uFFFD[31mred</title>",
		"<title>&#27;&#x1B;&#65;</title>": "<title>&#xFFFD;&#xFFFD;&#65;</title>",
		"<t>tab\there\nnl ünï</t>":        "<t>tab\there\nnl ünï</t>",
		"<t>\x00\uFFFE</t>":               "<t>\uFFFD\uFFFD</t>",
	} {
		if got := ValidXML(in); got != want {
			t.Errorf("ValidXML(%q) = %q, want %q", in, got, want)
		}
		var d libvirtxml.Domain
		if err := d.Unmarshal("<domain>" + ValidXML(in) + "</domain>"); err != nil {
			t.Errorf("%q still does not parse: %v", in, err)
		}
	}
}

// A VM whose title holds a raw ESC (virsh desc --title accepts one) can be read, and the
// other VMs' disks can still be planned and scanned.
func TestDefinitionWithEscInTitle(t *testing.T) {
	ctx := context.Background()
	c := fixture(t)
	d, err := c.Domain(ctx, "web-01")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	if err := call0(ctx, c, "title", func() error {
		return d.d.SetMetadata(libvirt.DOMAIN_METADATA_TITLE, "bad\x1b[31mtitle", "", "", libvirt.DOMAIN_AFFECT_CONFIG)
	}); err != nil {
		t.Fatal(err)
	}
	x, _ := d.XML(ctx, true)
	if !strings.Contains(x, "\x1b") {
		t.Skip("this libvirt escapes the title itself")
	}
	def, err := d.Definition(ctx, true)
	if err != nil || !strings.Contains(def.Title, "bad") {
		t.Fatalf("definition of a VM with an ESC in its title: %v %+v", err, def)
	}
	other, err := c.Domain(ctx, "db-01")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Free()
	if _, err := other.PlanStorage(ctx, nil, nil); err != nil {
		t.Errorf("planning another VM's storage: %v", err)
	}
	if _, err := c.ListVMs(ctx); err != nil {
		t.Errorf("list: %v", err)
	}
}
