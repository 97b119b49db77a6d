package virt

import "testing"

func TestQuietLibvirtLog(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, libvirtLogOutputs},
		{map[string]string{"LIBVIRT_DEBUG": "1"}, ""},
		{map[string]string{"LIBVIRT_LOG_OUTPUTS": "1:stderr"}, "1:stderr"},
	} {
		quietLibvirtLog(func(k string) string { return c.env[k] }, func(k, v string) error { c.env[k] = v; return nil })
		if got := c.env["LIBVIRT_LOG_OUTPUTS"]; got != c.want {
			t.Errorf("LIBVIRT_LOG_OUTPUTS = %q, want %q", got, c.want)
		}
	}
}
