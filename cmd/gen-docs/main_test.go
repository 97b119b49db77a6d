package main

import (
	"strings"
	"testing"
)

// Every man page shows its command's real --timeout default (never the flag's zero value),
// the exit status, environment and files.
func TestManPages(t *testing.T) {
	files, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if !strings.HasPrefix(name, "man/") {
			continue
		}
		page := string(data)
		for _, section := range []string{".SH EXIT STATUS", ".SH ENVIRONMENT", ".SH FILES"} {
			if !strings.Contains(page, section) {
				t.Errorf("%s has no %s", name, section)
			}
		}
		if strings.Contains(page, `\fB--timeout\fP=0s`) {
			t.Errorf("%s shows --timeout=0s", name)
		}
	}
	for name, want := range map[string]string{
		"man/vmctl-clone.1":   `\fB--timeout\fP=60m`,
		"man/vmctl-stop.1":    `\fB--timeout\fP=1m per VM`,
		"man/hvctl-vm-list.1": `\fB--timeout\fP=30s`,
	} {
		if !strings.Contains(string(files[name]), want) {
			t.Errorf("%s does not show %s", name, want)
		}
	}
}
