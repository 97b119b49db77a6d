package guestagent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

func TestEncodeExec(t *testing.T) {
	got, err := Encode("guest-exec", NewExecArgs([]string{"sh", "-c", "cat"}, []string{"A=1"}, []byte{0, 'x', 0xff}, ""))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"execute":"guest-exec","arguments":{"path":"sh","arg":["-c","cat"],"env":["A=1"],"input-data":"AHj/","capture-output":true}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// No stdin, no env, no cwd: the members are left out (old agents refuse unknown ones).
	got, _ = Encode("guest-exec", NewExecArgs([]string{"true"}, nil, nil, ""))
	if want := `{"execute":"guest-exec","arguments":{"path":"true","capture-output":true}}`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	got, _ = Encode("guest-info", nil)
	if want := `{"execute":"guest-info"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestDecodeExecStatus(t *testing.T) {
	three, nine := 3, 9
	cases := []struct {
		name, reply string
		want        ExecStatus
		status      int
	}{
		{"running", `{"return":{"exited":false}}`, ExecStatus{}, -1},
		{"exit code and output", `{"return":{"exitcode":3,"err-data":"` + b64("err\n") + `","out-data":"` + b64("hi\x00\n") + `","err-truncated":false,"out-truncated":false,"exited":true}}`,
			ExecStatus{Exited: true, ExitCode: &three, Stdout: []byte("hi\x00\n"), Stderr: []byte("err\n")}, 3},
		{"signal, no output members", `{"return":{"signal":9,"exited":true}}`, ExecStatus{Exited: true, Signal: &nine}, 137},
		{"truncated", `{"return":{"exitcode":3,"out-data":"` + b64("x") + `","out-truncated":true,"err-truncated":true,"exited":true}}`,
			ExecStatus{Exited: true, ExitCode: &three, Stdout: []byte("x"), StdoutTruncated: true, StderrTruncated: true}, 3},
	}
	for _, c := range cases {
		got, err := DecodeExecStatus(c.reply)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !sameStatus(got, c.want) || got.ExitStatus() != c.status {
			t.Errorf("%s: got %+v (status %d), want %+v (status %d)", c.name, got, got.ExitStatus(), c.want, c.status)
		}
	}
}

func sameStatus(a, b ExecStatus) bool {
	eq := func(x, y *int) bool { return x == nil && y == nil || x != nil && y != nil && *x == *y }
	return a.Exited == b.Exited && eq(a.ExitCode, b.ExitCode) && eq(a.Signal, b.Signal) && bytes.Equal(a.Stdout, b.Stdout) &&
		bytes.Equal(a.Stderr, b.Stderr) && a.StdoutTruncated == b.StdoutTruncated && a.StderrTruncated == b.StderrTruncated
}

func TestDecodeExecStatusRefusesMalformed(t *testing.T) {
	huge := strings.Repeat("A", base64.StdEncoding.EncodedLen(MaxOutput+4))
	for name, reply := range map[string]string{
		"not JSON":             `{"return":`,
		"no return":            `{}`,
		"null return":          `{"return":null}`,
		"no exited":            `{"return":{"exitcode":0}}`,
		"exited without how":   `{"return":{"exited":true}}`,
		"bad base64":           `{"return":{"exited":true,"exitcode":0,"out-data":"!!!"}}`,
		"bad signal":           `{"return":{"exited":true,"signal":0}}`,
		"signal out of range":  `{"return":{"exited":true,"signal":300}}`,
		"wrong type":           `{"return":{"exited":"yes","exitcode":0}}`,
		"over the agent's cap": `{"return":{"exited":true,"exitcode":0,"out-data":"` + huge + `"}}`,
		"error reply":          `{"error":{"class":"GenericError","desc":"Invalid parameter 'pid'"}}`,
	} {
		_, err := DecodeExecStatus(reply)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if errs.KindOf(err) != errs.Failure || !strings.HasPrefix(err.Error(), "guest-exec-status: ") {
			t.Errorf("%s: %v (kind %v)", name, err, errs.KindOf(err))
		}
	}
}

func TestDecodeFileRead(t *testing.T) {
	got, err := DecodeFileRead(`{"return":{"count":3,"buf-b64":"AAEC","eof":true}}`, 4)
	if err != nil || !bytes.Equal(got.Data, []byte{0, 1, 2}) || !got.EOF {
		t.Errorf("got %+v, %v", got, err)
	}
	for name, reply := range map[string]string{
		"count lies":        `{"return":{"count":4,"buf-b64":"AAEC","eof":false}}`,
		"more than asked":   `{"return":{"count":6,"buf-b64":"AAECAwQF","eof":false}}`,
		"no count":          `{"return":{"buf-b64":"AAEC","eof":false}}`,
		"bad base64":        `{"return":{"count":3,"buf-b64":"A=A=","eof":false}}`,
		"not an object":     `{"return":[1]}`,
		"missing return":    `{"count":3}`,
		"trailing garbage":  `{"return":{"count":0,"buf-b64":"","eof":true}} x`,
		"huge before check": `{"return":{"count":1,"buf-b64":"` + strings.Repeat("QUFB", 1000) + `","eof":false}}`,
	} {
		if _, err := DecodeFileRead(reply, 4); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDecodeFileWriteAndHandle(t *testing.T) {
	if n, err := DecodeFileWrite(`{"return":{"count":1048576,"eof":false}}`); n != 1<<20 || err != nil {
		t.Errorf("write: %d %v", n, err)
	}
	if _, err := DecodeFileWrite(`{"return":{"eof":false}}`); err == nil {
		t.Error("write without count accepted")
	}
	if h, err := DecodeHandle(`{"return":1000}`); h != 1000 || err != nil {
		t.Errorf("handle: %d %v", h, err)
	}
	if _, err := DecodeHandle(`{"return":"x"}`); err == nil {
		t.Error("string handle accepted")
	}
	if _, err := DecodeHandle(`{"return":-1}`); err == nil {
		t.Error("negative handle accepted")
	}
}

func TestDecodeInfoDisabled(t *testing.T) {
	in, err := DecodeInfo(`{"return":{"version":"7.2.22","supported_commands":[{"enabled":true,"name":"guest-exec","success-response":true},
		{"enabled":false,"name":"guest-fstrim","success-response":true},{"enabled":false,"name":"guest-file-open","success-response":true}]}}`)
	if err != nil || in.Version != "7.2.22" {
		t.Fatalf("%+v %v", in, err)
	}
	got := in.Disabled("guest-exec", "guest-file-open", "guest-unknown", "guest-fstrim")
	if strings.Join(got, ",") != "guest-file-open,guest-fstrim" {
		t.Errorf("disabled: %v", got)
	}
	e := Disabled("web01", got...)
	if errs.KindOf(e) != errs.Unreachable || e.Error() != "the guest agent of web01 refuses guest-file-open, guest-fstrim: disabled by its policy in the guest" ||
		!strings.Contains(errs.HintOf(e), "--block-rpcs") || !strings.Contains(errs.HintOf(e), "--allow-rpcs") {
		t.Errorf("%v / %s", e, errs.HintOf(e))
	}
}

// The chunk sizes keep every request under what qemu-ga 7.2 was measured to take (218 KB of
// JSON answered, 262 KB never) and every reply under libvirt's 4 MiB string limit.
func TestChunksFitLimits(t *testing.T) {
	const remoteStringMax, agentTook = 4 << 20, 218 << 10
	write, _ := json.Marshal(map[string]any{"execute": "guest-file-write", "arguments": map[string]any{"handle": 1 << 40, "buf-b64": encodeChunk(make([]byte, WriteChunk))}})
	stdin, _ := Encode("guest-exec", NewExecArgs([]string{"setsid", "cat"}, []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, make([]byte, MaxStdin), ""))
	for name, n := range map[string]int{"write": len(write), "stdin": len(stdin)} {
		if n >= agentTook {
			t.Errorf("%s: %d bytes of JSON, more than the agent was seen to take (%d)", name, n, agentTook)
		}
	}
	read := `{"return":{"count":1048576,"buf-b64":"` + encodeChunk(make([]byte, ReadChunk)) + `","eof":false}}`
	if len(read) >= remoteStringMax {
		t.Errorf("read reply: %d bytes, libvirt carries less than %d", len(read), remoteStringMax)
	}
}
