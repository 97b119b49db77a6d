package app_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/app"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain registers the binary under every name it answers to, so each script also exercises
// argv[0] dispatch.
func TestMain(m *testing.M) {
	cmds := map[string]func(){"hvctl": func() { os.Exit(app.Main()) }}
	for _, l := range app.Links {
		cmds[l.Name] = func() { os.Exit(app.Main()) }
	}
	testscript.Main(m, cmds)
}

func TestScripts(t *testing.T) {
	fixture, err := filepath.Abs("../../testdata/libvirt/host.xml")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "../../testdata/script",
		UpdateScripts:       os.Getenv("UPDATE_SCRIPTS") == "1",
		RequireExplicitExec: false,
		Setup: func(env *testscript.Env) error {
			env.Setenv("HVCTL_URI", "test://"+fixture)
			env.Setenv("FIXTURE", "test://"+fixture)
			env.Setenv("HVCTL_SYSTEM_CONFIG", filepath.Join(env.WorkDir, "no-system-config.toml"))
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, ".config"))
			env.Setenv("NO_COLOR", "1")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// serve DIR: serve DIR over HTTP on loopback for the rest of the script; $HTTP is its URL.
			"serve": func(ts *testscript.TestScript, neg bool, args []string) {
				srv := httptest.NewServer(http.FileServer(http.Dir(ts.MkAbs(args[0]))))
				ts.Defer(srv.Close)
				ts.Setenv("HTTP", srv.URL)
			},
			// sleep DURATION: give a background command time to get going.
			"sleep": func(ts *testscript.TestScript, neg bool, args []string) {
				d, err := time.ParseDuration(args[0])
				ts.Check(err)
				time.Sleep(d)
			},
			// status N CMD ARGS...: run CMD and require exit status N exactly.
			"status": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 2 {
					ts.Fatalf("usage: status N command [args...]")
				}
				want, err := strconv.Atoi(args[0])
				if err != nil {
					ts.Fatalf("status: %v", err)
				}
				err = ts.Exec(args[1], args[2:]...)
				got := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					got = ee.ExitCode()
				} else if err != nil {
					ts.Fatalf("status: %v", err)
				}
				if (got == want) == neg {
					ts.Fatalf("exit status %d, want %d", got, want)
				}
			},
		},
	})
}
