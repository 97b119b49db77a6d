package events

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// SubjectPrefix is the first token of every subject hvctl publishes to.
const SubjectPrefix = "hvctl"

// Subject is where a record goes: hvctl.<host>.<kind>.<uuid>.<type> (the UUID, not the name:
// names may hold dots, which separate tokens), hvctl.<host>.host.<type> for records about
// the stream itself. Subscribers pick with wildcards: hvctl.*.vm.*.crashed, hvctl.web1.>.
func Subject(ev model.Event) string {
	host := SubjectToken(ev.Host)
	if ev.Kind == virt.KindHost || ev.UUID == "" {
		return strings.Join([]string{SubjectPrefix, host, SubjectToken(ev.Kind), SubjectToken(ev.Type)}, ".")
	}
	return strings.Join([]string{SubjectPrefix, host, SubjectToken(ev.Kind), SubjectToken(ev.UUID), SubjectToken(ev.Type)}, ".")
}

// SubjectToken makes s one safe subject token: letters, digits, '-' and '_' stay, anything
// else (the dots of a host's FQDN, wildcards, spaces) becomes '_'.
func SubjectToken(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}

// NATSOptions configure a NATS publisher.
type NATSOptions struct {
	URL       string // nats://host:port, or tls://host:port for TLS
	CredsFile string // a .creds file (JWT and seed); must be readable by its owner only
	CAFile    string // CA bundle to check the server's certificate with
	Buffer    int    // records kept while the broker is unreachable; the oldest beyond are dropped
	Name      string // the client's name, as the server's monitoring shows it
	Warnf     func(format string, args ...any)
}

// NATS is the Sink that publishes each record as its JSON to Subject(record). Send never
// blocks: records wait in a bounded queue that one goroutine publishes from, so a broker
// that is down, slow or restarting never holds libvirt's events back. While it is down the
// queue keeps the newest Buffer records, says so once, and counts what it drops.
type NATS struct {
	nc   *nats.Conn
	url  string
	warn func(string, ...any)

	mu      sync.Mutex
	queue   []natsMsg
	limit   int
	dropped uint64 // since the broker was last reachable
	total   uint64 // over the publisher's life
	nextID  uint64
	closing bool

	wake      chan struct{} // a record was queued, or the connection came back
	done      chan struct{} // the publishing goroutine ended
	warnedOut bool
}

type natsMsg struct {
	id      uint64
	subject string
	data    []byte
}

// CheckCredsFile refuses a credentials file others can read or write: it holds a private key.
func CheckCredsFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return errs.New(errs.NotFound, "NATS credentials %s: %v", output.Escape(path), err)
	}
	if !fi.Mode().IsRegular() {
		return errs.New(errs.Usage, "NATS credentials %s: not a file", output.Escape(path))
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return errs.New(errs.Usage, "NATS credentials %s are open to others (mode %04o); refusing them", output.Escape(path), perm).
			WithHint("chmod 600 %s", output.Escape(path))
	}
	// The client reads the file only when it reaches the broker, and while it cannot it
	// retries in silence: a file that is no credentials would be found out then, or never.
	data, err := os.ReadFile(path)
	if err != nil {
		return errs.New(errs.Unreachable, "NATS credentials %s: %v", output.Escape(path), err)
	}
	defer clear(data)
	kp, err := nkeys.ParseDecoratedUserNKey(data)
	if err != nil {
		return errs.New(errs.Usage, "NATS credentials %s: not a .creds file (%v)", output.Escape(path), err).
			WithHint("a .creds file holds a user JWT and its seed, as 'nsc generate creds' writes it")
	}
	kp.Wipe()
	return nil
}

// CheckCAFile refuses a CA bundle that is missing or holds no PEM certificate, as
// CheckCredsFile does: the client's own error was exit 7, "cannot connect", for the user's
// file.
func CheckCAFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		kind := errs.Usage // a directory, say
		switch {
		case errors.Is(err, os.ErrNotExist):
			kind = errs.NotFound
		case errors.Is(err, os.ErrPermission):
			kind = errs.Unreachable
		}
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return errs.New(kind, "NATS CA file %s: %v", output.Escape(path), err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return errs.New(errs.Usage, "NATS CA file %s holds no PEM certificate", output.Escape(path))
	}
	return nil
}

// CheckNATSURL accepts nats:// and tls:// URLs (a comma-separated list for a cluster).
func CheckNATSURL(raw string) error {
	for _, one := range strings.Split(raw, ",") {
		u, err := url.Parse(strings.TrimSpace(one))
		if err != nil || u.Host == "" || u.Scheme != "nats" && u.Scheme != "tls" {
			return errs.New(errs.Usage, "--nats %q: want nats://HOST:PORT or tls://HOST:PORT", output.Escape(raw))
		}
	}
	return nil
}

// NewNATS starts a publisher. A broker that is down is no error: the client keeps trying, and
// records wait in the queue meanwhile.
func NewNATS(o NATSOptions) (*NATS, error) {
	if err := CheckNATSURL(o.URL); err != nil {
		return nil, err
	}
	s := &NATS{url: o.URL, warn: o.Warnf, limit: max(o.Buffer, 1), wake: make(chan struct{}, 1), done: make(chan struct{})}
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.Timeout(2 * time.Second),
		// The client's own reconnect buffer is off: the queue here is the one bound, and a
		// publish while disconnected fails at once instead of vanishing into it.
		nats.ReconnectBufSize(-1),
		nats.ConnectHandler(func(*nats.Conn) { s.signal() }),
		nats.ReconnectHandler(func(*nats.Conn) { s.signal() }),
	}
	if o.CredsFile != "" {
		if err := CheckCredsFile(o.CredsFile); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.CAFile != "" {
		if err := CheckCAFile(o.CAFile); err != nil {
			return nil, err
		}
		opts = append(opts, nats.RootCAs(o.CAFile))
	}
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, errs.New(errs.Unreachable, "NATS %s: %v", output.Escape(o.URL), err)
	}
	s.nc = nc
	go s.publish()
	return s, nil
}

func (s *NATS) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Send queues the record for publishing; it never blocks.
func (s *NATS) Send(ev model.Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if len(s.queue) >= s.limit {
		s.queue = s.queue[1:]
		s.dropped++
		s.total++
	}
	s.nextID++
	s.queue = append(s.queue, natsMsg{s.nextID, Subject(ev), data})
	s.mu.Unlock()
	s.signal()
	return nil
}

// publish sends queued records, oldest first, while the broker takes them; a record that
// fails stays at the head until the connection is back.
func (s *NATS) publish() {
	defer close(s.done)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return
			}
			<-s.wake
			continue
		}
		m := s.queue[0]
		s.mu.Unlock()
		if err := s.nc.Publish(m.subject, m.data); err != nil {
			s.down(err)
			if s.isClosing() {
				return // what is left is counted by Close
			}
			// Woken by the reconnection, or a new record; a second at most.
			t := time.NewTimer(time.Second)
			select {
			case <-s.wake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		s.mu.Lock()
		if len(s.queue) > 0 && s.queue[0].id == m.id { // else Send dropped it meanwhile
			s.queue = s.queue[1:]
		}
		back, dropped := s.warnedOut, s.dropped
		s.warnedOut, s.dropped = false, 0
		s.mu.Unlock()
		if back {
			s.warn("NATS %s is reachable again; publishing resumed (%d events dropped meanwhile)", s.url, dropped)
		}
	}
}

// down says once per outage that the broker is unreachable.
func (s *NATS) down(err error) {
	s.mu.Lock()
	first := !s.warnedOut
	s.warnedOut = true
	s.mu.Unlock()
	if first {
		s.warn("NATS %s is unreachable (%v); keeping up to %d events, the oldest dropped beyond", s.url, err, s.limit)
	}
}

func (s *NATS) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Dropped is how many records the queue dropped since the publisher started.
func (s *NATS) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Close publishes what is queued, waiting at most wait, flushes it to the broker and
// disconnects; records left unsent are counted in the warning.
func (s *NATS) Close(wait time.Duration) {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.signal()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-s.done:
		_ = s.nc.FlushTimeout(wait)
	case <-t.C:
	}
	s.nc.Close()
	s.mu.Lock()
	left, total := len(s.queue), s.total
	s.mu.Unlock()
	if left > 0 || total > 0 {
		s.warn("NATS %s: %s", s.url, fmt.Sprintf("%d events not published at exit, %d dropped while the broker was unreachable", left, total))
	}
}
