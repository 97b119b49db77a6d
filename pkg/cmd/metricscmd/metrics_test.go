package metricscmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/spf13/cobra"
)

// run puts cmd under a root with the global flags and runs argv.
func run(t *testing.T, f *cmdutil.Factory, cmd *cobra.Command, argv ...string) error {
	t.Helper()
	root := &cobra.Command{Use: "hvctl", SilenceErrors: true, SilenceUsage: true}
	root.PersistentFlags().AddFlagSet(f.Global.Flags)
	root.AddCommand(cmd)
	root.SetArgs(argv)
	return root.ExecuteContext(context.Background())
}

type flagCase struct {
	argv []string
	want string
	err  errs.Kind
}

func check[T any](t *testing.T, build func(*cmdutil.Factory, func(context.Context, *T) error) *cobra.Command, show func(*T) string, cases []flagCase) {
	t.Helper()
	for _, tc := range cases {
		var got *T
		f, _, _ := cmdutiltest.NewFactory(t, nil)
		err := run(t, f, build(f, func(_ context.Context, o *T) error { got = o; return nil }), tc.argv...)
		switch {
		case tc.err != 0:
			if errs.KindOf(err) != tc.err || got != nil {
				t.Errorf("%v: %v (ran %v), want a %v error", tc.argv, err, got != nil, tc.err)
			}
		case err != nil:
			t.Errorf("%v: %v", tc.argv, err)
		case show(got) != tc.want:
			t.Errorf("%v:\n got %s\nwant %s", tc.argv, show(got), tc.want)
		}
	}
}

func TestNewCmdMetrics(t *testing.T) {
	check(t, NewCmdMetrics, func(o *Options) string { return fmt.Sprintf("textfile=%s timeout=%s", o.Textfile, o.ScrapeTimeout) }, []flagCase{
		{argv: []string{"metrics"}, want: "textfile= timeout=10s"},
		{argv: []string{"metrics", "--textfile", "/d", "--scrape-timeout", "2s"}, want: "textfile=/d timeout=2s"},
		{argv: []string{"metrics", "--scrape-timeout", "0s"}, err: errs.Usage},
	})
}

func TestNewCmdServe(t *testing.T) {
	check(t, func(f *cmdutil.Factory, r func(context.Context, *ServeOptions) error) *cobra.Command {
		return NewCmdServe(f, r)
	},
		func(o *ServeOptions) string { return fmt.Sprintf("listen=%s timeout=%s", o.Listen, o.ScrapeTimeout) }, []flagCase{
			{argv: []string{"serve"}, want: "listen=127.0.0.1:9177 timeout=10s"},
			{argv: []string{"serve", "--listen", "[::1]:0", "--scrape-timeout", "3s"}, want: "listen=[::1]:0 timeout=3s"},
			{argv: []string{"serve", "--listen", "9177"}, err: errs.Usage},
			{argv: []string{"serve", "--scrape-timeout", "-1s"}, err: errs.Usage},
		})
}

func TestNewCmdPush(t *testing.T) {
	check(t, func(f *cmdutil.Factory, r func(context.Context, *PushOptions) error) *cobra.Command {
		return NewCmdPush(f, r)
	},
		func(o *PushOptions) string { return fmt.Sprintf("url=%s json=%v", o.URL, o.F.Global.JSON) }, []flagCase{
			{argv: []string{"push", "--url", "http://127.0.0.1:8428"}, want: "url=http://127.0.0.1:8428/api/v1/import/prometheus json=false"},
			{argv: []string{"push", "--url", "https://vm/x/import", "--json"}, want: "url=https://vm/x/import json=true"},
			{argv: []string{"push", "--url", "127.0.0.1:8428"}, err: errs.Usage},
		})
}

// TestTextfileOnTestDriver writes the textfile of the test driver's host.
func TestTextfileOnTestDriver(t *testing.T) {
	f, _, stderr := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	dir := t.TempDir()
	if err := run(t, f, NewCmdMetrics(f, nil), "metrics", "--textfile", dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "hvctl.prom"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nlibvirt_up 1\n", "\nlibvirt_domain_info_state{domain=\"test\",uuid=\"6695eb01-f6a4-8304-79aa-97f2502e193f\"} 1\n", "libvirt_domain_info_cpu_time_seconds_total{domain=\"test\"", "\nlibvirt_storage_pool_state{pool=\"default-pool\"} 1\n", "libvirt_storage_pool_capacity_bytes{pool=\"default-pool\"}"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("hvctl.prom lacks %q:\n%s", want, b)
		}
	}
	if !strings.Contains(stderr.String(), "wrote "+filepath.Join(dir, "hvctl.prom")) {
		t.Errorf("stderr: %q", stderr)
	}
}
