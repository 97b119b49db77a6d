package guestagent

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

// A write that fails half-way closes the handle and removes the private temporary file; the
// destination is never named in a write, only in the final rename.
func TestWriteFileRemovesPartialFile(t *testing.T) {
	s := &script{replies: []func(string) (string, error){
		answer(`{"return":{"pid":10}}`), answer(`{"return":{"exited":true,"exitcode":0}}`), // umask 077; : >tmp
		answer(`{"return":1000}`),                         // open
		answer(`{"return":{"count":131072,"eof":false}}`), // first chunk
		func(string) (string, error) {
			return "", errs.New(errs.Failure, "guest-file-write: No space left on device")
		},
		answer(`{"return":{}}`),                                                            // close
		answer(`{"return":{"pid":11}}`), answer(`{"return":{"exited":true,"exitcode":0}}`), // rm -f tmp
	}}
	c := &Client{T: s, VM: "vm"}
	data := bytes.Repeat([]byte{0, 1, 2, 3}, (WriteChunk+10)/4+1)
	err := c.WriteFile(context.Background(), bytes.NewReader(data), int64(len(data)), "/etc/app.conf", 0o640, func(int64) {})
	if err == nil || !strings.Contains(err.Error(), "No space left") {
		t.Fatalf("got %v", err)
	}
	tmp := regexp.MustCompile(`"/etc/\.app\.conf\.hvctl-[0-9a-f]{12}\.part"`)
	if !strings.Contains(s.sent[0], `umask 077`) || !tmp.MatchString(s.sent[0]) {
		t.Errorf("create: %s", s.sent[0])
	}
	if !strings.Contains(s.sent[2], `"guest-file-open"`) || !tmp.MatchString(s.sent[2]) || !strings.Contains(s.sent[2], `"mode":"w"`) {
		t.Errorf("open: %s", s.sent[2])
	}
	if !strings.Contains(s.sent[5], `"guest-file-close"`) || !strings.Contains(s.sent[6], `rm -f`) || !tmp.MatchString(s.sent[6]) {
		t.Errorf("clean-up: %q", s.sent[5:])
	}
	for _, cmd := range s.sent {
		if strings.Contains(cmd, `"/etc/app.conf"`) {
			t.Errorf("the destination was touched: %s", cmd)
		}
	}
}

// A complete write is size-checked, given its mode and renamed in one helper script.
func TestWriteFileFinishes(t *testing.T) {
	s := &script{replies: []func(string) (string, error){
		answer(`{"return":{"pid":10}}`), answer(`{"return":{"exited":true,"exitcode":0}}`),
		answer(`{"return":1000}`),
		answer(`{"return":{"count":3,"eof":false}}`),
		answer(`{"return":{}}`),
		answer(`{"return":{"pid":12}}`), answer(`{"return":{"exited":true,"exitcode":0}}`),
	}}
	c := &Client{T: s, VM: "vm"}
	if err := c.WriteFile(context.Background(), strings.NewReader("a\x00b"), 3, "/root/x", 0o600, func(int64) {}); err != nil {
		t.Fatal(err)
	}
	finish := s.sent[5]
	if !strings.Contains(finish, `mv -f`) || !strings.Contains(finish, `"/root/x","3","600"]`) {
		t.Errorf("finish: %s", finish)
	}
	if !strings.Contains(s.sent[3], `"buf-b64":"YQBi"`) {
		t.Errorf("write: %s", s.sent[3])
	}
}

func TestParseStat(t *testing.T) {
	size, mode, err := parseStat("3500003 640\n")
	if err != nil || size != 3500003 || mode != fs.FileMode(0o640) {
		t.Errorf("%d %v %v", size, mode, err)
	}
	size, mode, err = parseStat("1 4755")
	if err != nil || size != 1 || mode != fs.FileMode(0o755) {
		t.Errorf("setuid dropped: %d %v %v", size, mode, err)
	}
	for _, bad := range []string{"", "12", "x 644", "-1 644", "1 9z9", "1 644 extra"} {
		if _, _, err := parseStat(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A file that grows while it is read is an error, not a copy of something that never existed.
func TestReadFileChecksSize(t *testing.T) {
	s := &script{replies: []func(string) (string, error){
		answer(`{"return":1001}`),
		answer(`{"return":{"count":3,"buf-b64":"YQBi","eof":true}}`),
		answer(`{"return":{}}`),
	}}
	var out bytes.Buffer
	err := (&Client{T: s, VM: "vm"}).ReadFile(context.Background(), "/x", &out, 2, func(int64) {})
	if err == nil || !strings.Contains(err.Error(), "changed while it was copied") {
		t.Errorf("got %v", err)
	}
	if !strings.Contains(s.sent[2], "guest-file-close") {
		t.Errorf("handle left open: %q", s.sent)
	}
	s = &script{replies: []func(string) (string, error){
		answer(`{"return":1001}`),
		func(string) (string, error) { return "", errors.New("interrupted") },
		answer(`{"return":{}}`),
	}}
	if err := (&Client{T: s, VM: "vm"}).ReadFile(context.Background(), "/x", &out, 2, func(int64) {}); err == nil || len(s.sent) != 3 {
		t.Errorf("failed read: %v, sent %q", err, s.sent)
	}
}
