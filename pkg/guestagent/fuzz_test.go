package guestagent

import "testing"

// The agent's replies come from the guest: whatever it sends, decoding returns an error or a
// status that holds together, and never panics.
func FuzzDecodeExecStatus(f *testing.F) {
	for _, s := range []string{
		`{"return":{"exited":false}}`,
		`{"return":{"exitcode":3,"err-data":"ZXJyCg==","out-data":"aGkK","err-truncated":false,"out-truncated":true,"exited":true}}`,
		`{"return":{"signal":15,"exited":true}}`,
		`{"error":{"class":"GenericError","desc":"Invalid parameter 'pid'"}}`,
		`{"return":{"exited":true,"exitcode":-1073741510}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		s, err := DecodeExecStatus(reply)
		if err != nil {
			return
		}
		if s.Exited && s.ExitCode == nil && s.Signal == nil {
			t.Fatalf("exited without a status: %+v", s)
		}
		if s.Signal != nil && (*s.Signal <= 0 || *s.Signal > 127) {
			t.Fatalf("signal %d accepted", *s.Signal)
		}
		if len(s.Stdout) > MaxOutput+3 || len(s.Stderr) > MaxOutput+3 {
			t.Fatalf("output over the agent's cap accepted")
		}
	})
}

func FuzzDecodeFileRead(f *testing.F) {
	f.Add(`{"return":{"count":3,"buf-b64":"AAEC","eof":true}}`, 4)
	f.Add(`{"return":{"count":0,"buf-b64":"","eof":true}}`, 1)
	f.Add(`{"return":{"count":4,"buf-b64":"AAEC","eof":false}}`, 4)
	f.Fuzz(func(t *testing.T, reply string, asked int) {
		if asked < 0 || asked > ReadChunk {
			return
		}
		r, err := DecodeFileRead(reply, asked)
		if err != nil {
			return
		}
		if len(r.Data) > asked {
			t.Fatalf("%d bytes for %d asked", len(r.Data), asked)
		}
	})
}
