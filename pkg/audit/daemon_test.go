package audit

import (
	"os"
	"strings"
	"testing"
)

// The daemon controls added for issue 10, each planted in a fixture host.
func TestDaemonTLSAndSASL(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		"proc/net/tcp":                          procTCP(map[string]string{"00000000:4082": "9"}), // 0.0.0.0:16514
		"etc/sasl2/libvirt.conf":                "# libvirt\nmech_list: digest-md5\n",
		"etc/pki/libvirt/private/serverkey.pem": "",
		"etc/pki/qemu/server-key.pem":           "",
		"run/libvirt/libvirt-sock-ro":           "",
	})
	chmod(t, root, map[string]os.FileMode{"etc/pki/libvirt/private/serverkey.pem": 0o644, "etc/pki/qemu/server-key.pem": 0o640, "run/libvirt/libvirt-sock-ro": 0o777})
	c := conf(t, "libvirtd.conf", "tls_no_sanity_certificate = 1\nauth_tls = \"none\"\n")
	inv := &Inventory{Root: root, Local: true, RemoteConf: c, DriverConf: c, QEMUConf: conf(t, "qemu.conf", "")}
	got := map[string]string{}
	for _, f := range Run(inv, only("DAEMON-003", "DAEMON-005", "DAEMON-006", "DAEMON-007", "DAEMON-010", "DAEMON-011", "DAEMON-012"), nil) {
		got[f.ID+" "+f.Target] = f.Status + " " + f.Severity
	}
	want := map[string]string{
		"DAEMON-003 libvirt.conf":                           "fail high",
		"DAEMON-005 libvirtd.conf":                          "fail low",
		"DAEMON-006 libvirtd.conf":                          "fail medium",
		"DAEMON-007 libvirtd.conf":                          "fail low",
		"DAEMON-010 /run/libvirt/libvirt-sock-ro":           "fail info",
		"DAEMON-011 libvirtd.conf":                          "fail info",
		"DAEMON-012 /etc/pki/libvirt/private/serverkey.pem": "fail high",
		"DAEMON-012 /etc/pki/qemu/server-key.pem":           "pass high", // group-readable by QEMU's group is how QEMU reads it
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	// With a DN allow-list and a CRL, and TLS not listening, the TLS controls pass.
	write(t, root, map[string]string{"proc/net/tcp": procTCP(nil)})
	inv = &Inventory{Root: root, Local: true, RemoteConf: c, DriverConf: c} // a new snapshot of the host
	for _, f := range Run(inv, only("DAEMON-006", "DAEMON-007"), nil) {
		if f.Status != "pass" || !strings.Contains(f.Detail, "TLS does not listen") {
			t.Errorf("%s: %s %s", f.ID, f.Status, f.Detail)
		}
	}
}

// Migration, chardev and NBD TLS; the migration address; developer settings.
func TestDaemonQEMUTransport(t *testing.T) {
	inv := &Inventory{Local: true, QEMUConf: conf(t, "qemu.conf", "capability_filters = [ \"foo\" ]\nmigrate_tls_force = 1\nnbd_tls_x509_verify = 0\n"),
		Domains: []Domain{{Name: "c", Def: domain(t, `<domain type="kvm"><name>c</name><devices>
<serial type="tcp"><source mode="bind" host="127.0.0.1" service="4000"/></serial>
<disk type="network" device="disk"><driver name="qemu" type="raw"/><source protocol="nbd" name="x"><host name="10.0.0.9"/></source><target dev="vda"/></disk>
</devices></domain>`)}}}
	f := byID(t, inv, "DAEMON-021", "DAEMON-022", "DAEMON-026")
	if x := f["DAEMON-021"][0]; x.Status != "fail" || x.Severity != "medium" ||
		!strings.Contains(x.Detail, "chardev_tls (unset) while c bind") || !strings.Contains(x.Detail, "nbd_tls (unset) while c use NBD") || !strings.Contains(x.Detail, "nbd TLS accepts any peer") {
		t.Errorf("DAEMON-021: %+v", x)
	}
	if x := f["DAEMON-022"][0]; x.Status != "fail" || x.Severity != "low" {
		t.Errorf("DAEMON-022: %+v", x)
	}
	if x := f["DAEMON-026"][0]; x.Status != "fail" || x.Severity != "low" || x.Location.Line != 1 || !strings.Contains(x.Detail, "no lock_manager") {
		t.Errorf("DAEMON-026: %+v", x)
	}
	inv.QEMUConf = conf(t, "qemu.conf", "migrate_tls_force = 1\nchardev_tls = 1\nnbd_tls = 1\nmigration_address = \"10.1.0.2\"\nlock_manager = \"lockd\"\n")
	for _, x := range Run(inv, only("DAEMON-021", "DAEMON-022", "DAEMON-026"), nil) {
		if x.Status != "pass" {
			t.Errorf("%s: %s %s", x.ID, x.Status, x.Detail)
		}
	}
}
