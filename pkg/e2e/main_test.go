package e2e

import (
	"os"
	"testing"
)

// TestMain gives every command the tests run (they inherit this process's environment) a state
// directory of the run's own: commands journal what they change and may record metrics there,
// never in the host's /var/lib/hvctl. Tests that want another set their own, later in the
// command's environment.
func TestMain(m *testing.M) {
	state, err := os.MkdirTemp("", "hvctl-e2e-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv("HVCTL_PATHS_STATE", state)
	os.Setenv("XDG_RUNTIME_DIR", state)
	code := m.Run()
	os.RemoveAll(state)
	os.Exit(code)
}
