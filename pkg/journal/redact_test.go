package journal

import (
	"reflect"
	"testing"
)

// flags of a made-up command: --password and -p secret by name, --key marked secret, --connect
// and -c taking values, -y and -q booleans.
func lookupFlags(name string, short bool) (Flag, bool) {
	long := map[string]Flag{"password": {TakesValue: true, Secret: true}, "key": {TakesValue: true, Secret: true},
		"connect": {TakesValue: true}, "nats": {TakesValue: true}, "yes": {}, "quiet": {}, "set": {TakesValue: true}}
	shorts := map[string]string{"p": "password", "c": "connect", "y": "yes", "q": "quiet"}
	if short {
		name = shorts[name]
	}
	f, ok := long[name]
	return f, ok
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"vmctl", "start", "web01"}, []string{"vmctl", "start", "web01"}},
		{[]string{"x", "--password", "hunter2", "web01"}, []string{"x", "--password", Redacted, "web01"}},
		{[]string{"x", "--password=hunter2"}, []string{"x", "--password=" + Redacted}},
		{[]string{"x", "--key", "k", "--yes", "n"}, []string{"x", "--key", Redacted, "--yes", "n"}},
		{[]string{"x", "-p", "hunter2", "web01"}, []string{"x", "-p", Redacted, "web01"}},
		{[]string{"x", "-phunter2"}, []string{"x", "-p" + Redacted}},
		{[]string{"x", "-yp", "hunter2", "web01"}, []string{"x", "-yp", Redacted, "web01"}},
		{[]string{"x", "-yq", "web01"}, []string{"x", "-yq", "web01"}},
		// URLs: passwords, NATS tokens, secret query parameters; a user name alone is kept.
		{[]string{"x", "--nats", "nats://u:pw@broker:4222"}, []string{"x", "--nats", "nats://u:" + Redacted + "@broker:4222"}},
		{[]string{"x", "--nats=nats://s3cr3t@broker"}, []string{"x", "--nats=nats://" + Redacted + "@broker"}},
		{[]string{"x", "-c", "qemu+ssh://root@hv2/system"}, []string{"x", "-c", "qemu+ssh://root@hv2/system"}},
		{[]string{"x", "-cqemu+tcp://u:pw@hv2/system"}, []string{"x", "-cqemu+tcp://u:" + Redacted + "@hv2/system"}},
		{[]string{"x", "-c", "qemu+tls://hv2/system?password=pw&no_verify=1"}, []string{"x", "-c", "qemu+tls://hv2/system?no_verify=1&password=" + Redacted}},
		{[]string{"x", "pull", "https://u:pw@mirror/x.iso"}, []string{"x", "pull", "https://u:" + Redacted + "@mirror/x.iso"}},
		{[]string{"x", "--set", "url=https://a:b@c/"}, []string{"x", "--set", "url=https://a:" + Redacted + "@c/"}},
		// A URL Go cannot parse still loses its userinfo.
		{[]string{"x", "tcp://u:p%zz@h/"}, []string{"x", "tcp://" + Redacted + "@h/"}},
		// After --, everything is an argument; a secret-looking word there is not a flag.
		{[]string{"x", "--", "--password", "https://u:pw@h/"}, []string{"x", "--", "--password", "https://u:" + Redacted + "@h/"}},
		// An unknown flag is left alone (cobra refused it anyway); a secret flag last has no value.
		{[]string{"x", "--bogus", "v", "--password"}, []string{"x", "--bogus", "v", "--password"}},
	} {
		if got := Redact(tc.in, lookupFlags); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Redact(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestIsSecretName(t *testing.T) {
	for name, want := range map[string]bool{"password": true, "root-password": true, "nats-token": true, "client_secret": true,
		"Passphrase": true, "creds": false, "keep-last": false, "connect": false, "ssh-key": false} {
		if IsSecretName(name) != want {
			t.Errorf("IsSecretName(%q) = %v", name, !want)
		}
	}
}
