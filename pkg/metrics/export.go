package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/fsutil"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// TextfileName is the file `metrics --textfile DIR` writes for node_exporter's textfile collector.
const TextfileName = "hvctl.prom"

// Registry is what a short-lived command scrapes: the collector alone, no Go runtime or
// process metrics.
func Registry(c *Collector) prometheus.Gatherer { return c }

// ServerRegistry is Registry plus the exporter's own Go runtime and process series (go_*,
// process_*), as every long-running exporter has: its goroutines, memory and open descriptors
// show whether timed-out scrapes leave anything behind.
func ServerRegistry(c *Collector) prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return joined{c, reg}
}

// joined gathers from each and merges the families by name. Unlike prometheus.Gatherers it
// does not check every series again: the gatherers' names do not overlap (libvirt_*, hvctl_*
// against go_*, process_*) and each checks its own.
type joined []prometheus.Gatherer

func (j joined) Gather() ([]*dto.MetricFamily, error) {
	var all []*dto.MetricFamily
	var errList []error
	for _, g := range j {
		mfs, err := g.Gather()
		errList = append(errList, err)
		all = append(all, mfs...)
	}
	slices.SortFunc(all, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return all, errors.Join(errList...)
}

// WriteText writes one scrape in Prometheus's text format.
func WriteText(w io.Writer, g prometheus.Gatherer) (series int, err error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return 0, err
		}
		series += len(mf.GetMetric())
	}
	return series, nil
}

// Samples is one scrape as series, in the order of the text format (by name, then labels): what
// `hvctl metrics --json` prints, for scripts that want a value without a Prometheus parser.
func Samples(g prometheus.Gatherer) ([]model.MetricSample, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, err
	}
	out := []model.MetricSample{}
	for _, mf := range mfs {
		typ := strings.ToLower(mf.GetType().String())
		for _, m := range mf.GetMetric() {
			s := model.MetricSample{Name: mf.GetName(), Type: typ, Labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.Labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				s.Value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.Value = m.GetGauge().GetValue()
			case m.Untyped != nil:
				s.Value = m.GetUntyped().GetValue()
			default:
				continue // hvctl exports counters and gauges only
			}
			if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
				continue // JSON has no word for them
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// CheckTextfileDir refuses, before anything is scraped, a --textfile that is no directory or
// whose hvctl.prom is one: a usage error naming the flag, rather than the temporary file's
// name in an open error after the scrape.
func CheckTextfileDir(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errs.New(errs.Usage, "--textfile %s: no such directory", dir).
			WithHint("give node_exporter's --collector.textfile.directory, which must exist")
	case err != nil:
		return textfileError(dir, err)
	case !st.IsDir():
		return errs.New(errs.Usage, "--textfile %s: not a directory (hvctl writes %s in it)", dir, TextfileName)
	}
	if st, err := os.Stat(filepath.Join(dir, TextfileName)); err == nil && st.IsDir() {
		return errs.New(errs.Usage, "--textfile %s: %s is a directory", dir, TextfileName)
	}
	return nil
}

// WriteTextfile writes DIR/hvctl.prom atomically, as hvctl writes every file (fsutil: a
// temporary file in DIR, fsync, rename, the directory synced), so node_exporter never reads
// half a file, nor an empty one after a crash. The scrape is taken first: client_golang's
// WriteToTextfile created its temporary file before the scrape, which can take the whole
// --scrape-timeout, and did not fsync; a recorder killed meanwhile (a timer's RuntimeMaxSec,
// the OOM killer) left one hvctl.promNNNN in node_exporter's directory per kill.
func WriteTextfile(dir string, g prometheus.Gatherer) (string, error) {
	path := filepath.Join(dir, TextfileName)
	var scrape bytes.Buffer
	if _, err := WriteText(&scrape, g); err != nil {
		return path, err
	}
	if err := fsutil.WriteAtomic(path, scrape.Bytes(), 0o644); err != nil {
		return path, textfileError(path, err)
	}
	return path, nil
}

// textfileError says in one line why path could not be written, without the temporary file's
// name that the open or rename error carries: a directory hvctl may not write (permission, a
// read-only file system) is exit 7 as for the state directory; anything else a failure.
func textfileError(path string, err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return &errs.Error{Kind: errs.Failure, Msg: fmt.Sprintf("write %s: %v", path, err), Err: err}
	}
	kind := errs.Failure
	switch errno {
	case syscall.EACCES, syscall.EPERM, syscall.EROFS:
		kind = errs.Unreachable
	}
	return &errs.Error{Kind: kind, Msg: fmt.Sprintf("write %s: %v", path, errno), Err: err}
}

// Handler serves /metrics and /healthz.
func Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

// Serve answers on ln until ctx ends, then shuts down, letting a running scrape finish briefly.
func Serve(ctx context.Context, ln net.Listener, g prometheus.Gatherer) error {
	srv := &http.Server{Handler: Handler(g), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// ImportPath is VictoriaMetrics's endpoint for Prometheus text.
const ImportPath = "/api/v1/import/prometheus"

// PushURL is where push sends to: base's own path when it has one, else VictoriaMetrics's
// Prometheus import API.
func PushURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errs.New(errs.Usage, "--url %q: want http(s)://HOST:PORT, e.g. http://127.0.0.1:8428", base)
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = ImportPath
	}
	return u.String(), nil
}

// Push sends one scrape to target (see PushURL) and returns the number of series sent.
func Push(ctx context.Context, client *http.Client, target string, g prometheus.Gatherer) (int, error) {
	var body bytes.Buffer
	n, err := WriteText(&body, g)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, &body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	// A redirect is not followed: net/http turns the POST into a GET on 301, 302 and 303, so
	// a proxy sending http to https, or to a login page, answered the GET with 200 and the
	// push reported its series as sent when nothing was imported.
	noRedirect := *client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.Do(req)
	if err != nil {
		return 0, pushError(ctx, RedactURL(target), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 3 {
		e := errs.New(errs.Failure, "push to %s: %s: redirected, so not imported (push does not follow redirects)", RedactURL(target), resp.Status)
		if loc, err := resp.Location(); err == nil {
			e = e.WithHint("give --url %s, where it redirects to", RedactURL(loc.String()))
		}
		return 0, e
	}
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, errs.New(errs.Failure, "push to %s: %s: %s", RedactURL(target), resp.Status, firstLine(string(msg)))
	}
	return n, nil
}

// RedactURL hides the password of a push URL (http://user:xxxxx@host/…) wherever it is shown:
// push runs from timers, whose stderr goes to the system journal.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); !has {
		return s
	}
	return u.Redacted()
}

// pushError says in one line why a push got no answer, and classifies it: no answer within
// --timeout or the client's own timeout is a timeout (exit 5), a signal an interrupt (130),
// anything else (refused, no route, bad TLS) a failure. net/http's error repeats the method
// and URL and nests the dial's address; the message keeps the target once and the cause.
func pushError(ctx context.Context, target string, err error) error {
	var ue *url.Error
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return &errs.Error{Kind: errs.Interrupted, Msg: fmt.Sprintf("push to %s: interrupted", target), Err: err}
	case ctx.Err() != nil:
		return &errs.Error{Kind: errs.Timeout, Msg: fmt.Sprintf("push to %s: no answer before the deadline", target), Err: err}
	case errors.As(err, &ue) && ue.Timeout():
		return &errs.Error{Kind: errs.Timeout, Msg: fmt.Sprintf("push to %s: no answer in time", target), Err: err}
	}
	cause := err
	if ue != nil {
		cause = ue.Err
	}
	var se *os.SyscallError
	if errors.As(cause, &se) { // "dial tcp 127.0.0.1:1: connect: connection refused" → "connection refused"
		cause = se.Err
	}
	return &errs.Error{Kind: errs.Failure, Msg: fmt.Sprintf("push to %s: %v", target, cause), Err: err}
}

// firstLine is the first line of a server's error body, cut short: one line on stderr.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}
