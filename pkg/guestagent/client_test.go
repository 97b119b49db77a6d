package guestagent

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// script is a Transport that answers commands in order and records them: what the client
// sends is the protocol under test.
type script struct {
	sent    []string
	replies []func(cmd string) (string, error)
}

func (s *script) AgentCommand(_ context.Context, cmd string) (string, error) {
	s.sent = append(s.sent, cmd)
	if len(s.replies) == 0 {
		return "", errors.New("unexpected command " + cmd)
	}
	r := s.replies[0]
	s.replies = s.replies[1:]
	return r(cmd)
}

func answer(s string) func(string) (string, error) {
	return func(string) (string, error) { return s, nil }
}

// Commands run under setsid so a timeout kills their whole group; a guest without setsid runs
// them directly, and Kill then aims at the process alone.
func TestStartFallsBackWithoutSetsid(t *testing.T) {
	s := &script{replies: []func(string) (string, error){
		func(string) (string, error) {
			return "", errors.New("guest-exec: Failed to execute child process “setsid” (No such file or directory)")
		},
		answer(`{"return":{"pid":42}}`),
		answer(`{"return":{"pid":43}}`),                   // kill
		answer(`{"return":{"exited":true,"exitcode":0}}`), // kill's status
		answer(`{"return":{"exited":true,"signal":9}}`),   // the process's
	}}
	c := &Client{T: s, VM: "vm"}
	pid, group, err := c.Start(context.Background(), []string{"sleep", "9"}, nil, nil, "")
	if err != nil || pid != 42 || group {
		t.Fatalf("start: %d %v %v", pid, group, err)
	}
	if !strings.Contains(s.sent[0], `"path":"setsid","arg":["sleep","9"]`) || !strings.Contains(s.sent[1], `"path":"sleep","arg":["9"]`) {
		t.Errorf("sent %q", s.sent)
	}
	st, err := c.Kill(context.Background(), pid, group)
	if err != nil || st.Signal == nil || *st.Signal != 9 {
		t.Fatalf("kill: %+v %v", st, err)
	}
	if !strings.Contains(s.sent[2], `"path":"kill","arg":["-9","42"]`) || !strings.Contains(s.sent[4], `{"pid":42}`) {
		t.Errorf("sent %q", s.sent)
	}
}

func TestKillGroupAndWait(t *testing.T) {
	s := &script{replies: []func(string) (string, error){
		answer(`{"return":{"pid":7}}`),
		answer(`{"return":{"exited":false}}`),
		answer(`{"return":{"exited":true,"exitcode":0}}`),
		answer(`{"return":{"exited":true,"signal":9,"out-data":"cGFydA=="}}`),
	}}
	c := &Client{T: s, VM: "vm"}
	st, err := c.Kill(context.Background(), 99, true)
	if err != nil || string(st.Stdout) != "part" {
		t.Fatalf("kill: %+v %v", st, err)
	}
	if !strings.Contains(s.sent[0], `"arg":["-9","-99"]`) {
		t.Errorf("kill of the group: %s", s.sent[0])
	}
}

func TestKillFailureIsReported(t *testing.T) {
	s := &script{replies: []func(string) (string, error){
		answer(`{"return":{"pid":7}}`),
		answer(`{"return":{"exited":true,"exitcode":1,"err-data":"a2lsbDogbm8gc3VjaCBwcm9jZXNzCg=="}}`),
	}}
	_, err := (&Client{T: s, VM: "vm"}).Kill(context.Background(), 99, true)
	if err == nil || !strings.Contains(err.Error(), "kill: no such process") {
		t.Errorf("got %v", err)
	}
}

// An output too large for libvirt's message is lost with the status: the error says why and
// what to do instead, rather than libvirt's bare words.
func TestStatusTooLarge(t *testing.T) {
	s := &script{replies: []func(string) (string, error){
		func(string) (string, error) {
			return "", errors.New("guest agent of vm: Unable to encode message payload")
		},
	}}
	_, err := (&Client{T: s, VM: "vm"}).Status(context.Background(), 5)
	if err == nil || !strings.Contains(err.Error(), "more than libvirt carries") {
		t.Errorf("got %v", err)
	}
}

func TestWriteRefusesShortWrite(t *testing.T) {
	s := &script{replies: []func(string) (string, error){answer(`{"return":{"count":2,"eof":false}}`)}}
	err := (&Client{T: s, VM: "vm"}).Write(context.Background(), 1000, []byte("abc"))
	if err == nil || !strings.Contains(err.Error(), "wrote 2 of 3 bytes") {
		t.Errorf("got %v", err)
	}
	if !strings.Contains(s.sent[0], `{"execute":"guest-file-write","arguments":{"handle":1000,"buf-b64":"YWJj"}}`) {
		t.Errorf("sent %s", s.sent[0])
	}
}
