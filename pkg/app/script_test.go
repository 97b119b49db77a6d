package app_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
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
	// hvctl, then a SIGINT in the moment before the process exits (TestLateSignalIsAbsorbed).
	cmds["hvctl-late-signal"] = func() {
		code := app.Main()
		_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
		time.Sleep(300 * time.Millisecond)
		os.Exit(code)
	}
	testscript.Main(m, cmds)
}

// keys holds the OpenPGP keys scripts make with pgpkey.
var keys sync.Map

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
			env.Setenv("HVCTL_PATHS_STATE", filepath.Join(env.WorkDir, ".state"))
			env.Setenv("XDG_RUNTIME_DIR", filepath.Join(env.WorkDir, ".run"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// serve DIR: serve DIR over HTTP on loopback for the rest of the script; $HTTP is its URL.
			// serve DIR [stall]: serve DIR on loopback at $HTTP; with stall, at $HTTP_STALL a
			// server that sends the first half of a file and then nothing.
			"serve": func(ts *testscript.TestScript, neg bool, args []string) {
				files := http.FileServer(http.Dir(ts.MkAbs(args[0])))
				if len(args) > 1 && args[1] == "stall" {
					srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						b, err := os.ReadFile(filepath.Join(ts.MkAbs(args[0]), filepath.Base(r.URL.Path)))
						if err != nil {
							http.NotFound(w, r)
							return
						}
						w.Header().Set("Content-Length", strconv.Itoa(len(b)))
						w.Header().Set("ETag", `"stall"`)
						_, _ = w.Write(b[:len(b)/2])
						w.(http.Flusher).Flush()
						<-r.Context().Done()
					}))
					ts.Defer(srv.Close)
					ts.Setenv("HTTP_STALL", srv.URL)
					return
				}
				srv := httptest.NewServer(files)
				ts.Defer(srv.Close)
				ts.Setenv("HTTP", srv.URL)
			},
			// pgpkey NAME: make an OpenPGP key; NAME.pub in $WORK, its fingerprint in $NAME_FPR.
			"pgpkey": func(ts *testscript.TestScript, neg bool, args []string) {
				e, err := openpgp.NewEntity(args[0], "", args[0]+"@example.test", nil)
				ts.Check(err)
				keys.Store(args[0], e)
				var pub bytes.Buffer
				w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
				ts.Check(err)
				ts.Check(e.Serialize(w))
				ts.Check(w.Close())
				ts.Check(os.WriteFile(ts.MkAbs(args[0]+".pub"), pub.Bytes(), 0o644))
				ts.Setenv(strings.ToUpper(args[0])+"_FPR", fmt.Sprintf("%X", e.PrimaryKey.Fingerprint))
			},
			// pgpsign NAME FILE OUT [clear]: sign FILE with NAME's key, detached or clearsigned.
			"pgpsign": func(ts *testscript.TestScript, neg bool, args []string) {
				v, ok := keys.Load(args[0])
				if !ok {
					ts.Fatalf("no key %s", args[0])
				}
				e := v.(*openpgp.Entity)
				data, err := os.ReadFile(ts.MkAbs(args[1]))
				ts.Check(err)
				var out bytes.Buffer
				if len(args) > 3 && args[3] == "clear" {
					w, err := clearsign.Encode(&out, e.PrivateKey, nil)
					ts.Check(err)
					_, _ = w.Write(data)
					ts.Check(w.Close())
				} else {
					ts.Check(openpgp.ArmoredDetachSign(&out, e, bytes.NewReader(data), nil))
				}
				ts.Check(os.WriteFile(ts.MkAbs(args[2]), out.Bytes(), 0o644))
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
