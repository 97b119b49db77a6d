// Package guestagent speaks qemu-guest-agent's protocol (guest-exec, guest-exec-status,
// guest-file-*, guest-info) over libvirt's raw agent command: encoding the requests, decoding
// and checking the replies, which come from the guest and are not trusted, and the client
// logic of vmctl exec and cp (polling, killing on a timeout, chunked file transfer).
//
// Like every package under pkg/, it exists for hvctl alone and carries no Go API promise: what
// hvctl promises is its command line, its exit codes and the JSON of pkg/model.
package guestagent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

// MaxOutput is what qemu-guest-agent keeps of each of a process's stdout and stderr
// (GUEST_EXEC_MAX_OUTPUT); past it the agent drops the rest and says the stream was truncated.
const MaxOutput = 16 << 20

// request is one agent command: {"execute": NAME, "arguments": {…}}.
type request struct {
	Execute   string `json:"execute"`
	Arguments any    `json:"arguments,omitempty"`
}

// Encode builds the JSON of one agent command.
func Encode(command string, args any) (string, error) {
	b, err := json.Marshal(request{Execute: command, Arguments: args})
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", command, err)
	}
	return string(b), nil
}

// reply is the agent's answer. libvirt turns an {"error": …} reply into a libvirt error of its
// own; one that gets through is still an error here.
type reply struct {
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
}

// Decode reads the "return" member of reply (from the guest: checked, never trusted) into v.
func Decode(command, data string, v any) error {
	var r reply
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return malformed(command, "%v", err)
	}
	if r.Error != nil {
		return errs.New(errs.Failure, "%s: %s", command, r.Error.Desc)
	}
	if len(r.Return) == 0 || bytes.Equal(r.Return, []byte("null")) {
		return malformed(command, "no \"return\" member")
	}
	dec := json.NewDecoder(bytes.NewReader(r.Return))
	if err := dec.Decode(v); err != nil {
		return malformed(command, "%v", err)
	}
	return nil
}

func malformed(command, format string, a ...any) error {
	return errs.New(errs.Failure, "%s: the guest agent's reply is malformed: %s", command, fmt.Sprintf(format, a...))
}

// ExecArgs are guest-exec's arguments. There is no shell: Path is executed with Arg, searched
// in the agent's PATH.
type ExecArgs struct {
	Path    string   `json:"path"`
	Arg     []string `json:"arg,omitempty"`
	Env     []string `json:"env,omitempty"`
	Input   string   `json:"input-data,omitempty"` // base64
	Capture bool     `json:"capture-output"`
	Cwd     string   `json:"cwd,omitempty"` // only newer agents know it; older ones refuse the call
}

// NewExecArgs builds guest-exec's arguments for argv with stdin data (nil: none).
func NewExecArgs(argv, env []string, stdin []byte, cwd string) ExecArgs {
	a := ExecArgs{Path: argv[0], Arg: argv[1:], Env: env, Capture: true, Cwd: cwd}
	if len(stdin) > 0 {
		a.Input = base64.StdEncoding.EncodeToString(stdin)
	}
	return a
}

// DecodePID reads guest-exec's reply: {"pid": N}.
func DecodePID(data string) (int, error) {
	var v struct {
		PID *int `json:"pid"`
	}
	if err := Decode("guest-exec", data, &v); err != nil {
		return 0, err
	}
	if v.PID == nil || *v.PID <= 0 {
		return 0, malformed("guest-exec", "no process id")
	}
	return *v.PID, nil
}

// ExecStatus is one guest-exec-status answer, decoded.
type ExecStatus struct {
	Exited          bool
	ExitCode        *int // set when the process exited on its own
	Signal          *int // set when a signal ended it
	Stdout, Stderr  []byte
	StdoutTruncated bool // the agent kept only the first MaxOutput bytes
	StderrTruncated bool
}

type execStatusWire struct {
	Exited   *bool   `json:"exited"`
	ExitCode *int    `json:"exitcode"`
	Signal   *int    `json:"signal"`
	OutData  *string `json:"out-data"`
	ErrData  *string `json:"err-data"`
	OutTrunc bool    `json:"out-truncated"`
	ErrTrunc bool    `json:"err-truncated"`
}

// DecodeExecStatus reads guest-exec-status's reply. The agent sends output and status only
// once the process has exited (and then forgets the process); a reply that says it exited
// without saying how, or carries output that is not base64, is refused.
func DecodeExecStatus(data string) (ExecStatus, error) {
	const cmd = "guest-exec-status"
	var w execStatusWire
	if err := Decode(cmd, data, &w); err != nil {
		return ExecStatus{}, err
	}
	if w.Exited == nil {
		return ExecStatus{}, malformed(cmd, "no \"exited\" member")
	}
	s := ExecStatus{Exited: *w.Exited, ExitCode: w.ExitCode, Signal: w.Signal, StdoutTruncated: w.OutTrunc, StderrTruncated: w.ErrTrunc}
	if !s.Exited {
		return s, nil
	}
	if s.ExitCode == nil && s.Signal == nil {
		return ExecStatus{}, malformed(cmd, "the process exited with neither an exit code nor a signal")
	}
	if s.Signal != nil && (*s.Signal <= 0 || *s.Signal > 127) {
		return ExecStatus{}, malformed(cmd, "signal %d", *s.Signal)
	}
	var err error
	if s.Stdout, err = decodeOutput(cmd, "out-data", w.OutData); err != nil {
		return ExecStatus{}, err
	}
	if s.Stderr, err = decodeOutput(cmd, "err-data", w.ErrData); err != nil {
		return ExecStatus{}, err
	}
	return s, nil
}

func decodeOutput(cmd, member string, data *string) ([]byte, error) {
	if data == nil {
		return nil, nil
	}
	if base64.StdEncoding.DecodedLen(len(*data)) > MaxOutput+3 {
		return nil, malformed(cmd, "%s is larger than the agent's %d-byte cap", member, MaxOutput)
	}
	b, err := base64.StdEncoding.DecodeString(*data)
	if err != nil {
		return nil, malformed(cmd, "%s: %v", member, err)
	}
	return b, nil
}

// ExitStatus is the status a shell would give the process: its exit code, or 128 plus the
// signal that ended it. Codes a Linux process cannot have (Windows guests report 32-bit codes)
// are given as they are; the caller decides what to do with them.
func (s ExecStatus) ExitStatus() int {
	if s.Signal != nil {
		return 128 + *s.Signal
	}
	if s.ExitCode != nil {
		return *s.ExitCode
	}
	return -1
}

// FileRead is guest-file-read's reply, decoded.
type FileRead struct {
	Data []byte
	EOF  bool
}

// DecodeFileRead reads guest-file-read's reply to a request for at most asked bytes: the count
// must match the data, and the data must not exceed what was asked.
func DecodeFileRead(data string, asked int) (FileRead, error) {
	const cmd = "guest-file-read"
	var w struct {
		Count *int   `json:"count"`
		Buf   string `json:"buf-b64"`
		EOF   bool   `json:"eof"`
	}
	if err := Decode(cmd, data, &w); err != nil {
		return FileRead{}, err
	}
	if w.Count == nil {
		return FileRead{}, malformed(cmd, "no \"count\" member")
	}
	if base64.StdEncoding.DecodedLen(len(w.Buf)) > asked+3 {
		return FileRead{}, malformed(cmd, "more data than the %d bytes asked for", asked)
	}
	b, err := base64.StdEncoding.DecodeString(w.Buf)
	if err != nil {
		return FileRead{}, malformed(cmd, "buf-b64: %v", err)
	}
	if len(b) != *w.Count || len(b) > asked {
		return FileRead{}, malformed(cmd, "count %d for %d bytes of data (%d asked for)", *w.Count, len(b), asked)
	}
	return FileRead{Data: b, EOF: w.EOF}, nil
}

// DecodeFileWrite reads guest-file-write's reply: how many bytes were written.
func DecodeFileWrite(data string) (int, error) {
	var w struct {
		Count *int `json:"count"`
	}
	if err := Decode("guest-file-write", data, &w); err != nil {
		return 0, err
	}
	if w.Count == nil || *w.Count < 0 {
		return 0, malformed("guest-file-write", "no byte count")
	}
	return *w.Count, nil
}

// DecodeHandle reads guest-file-open's reply: a bare handle number.
func DecodeHandle(data string) (int64, error) {
	var h int64
	if err := Decode("guest-file-open", data, &h); err != nil {
		return 0, err
	}
	if h < 0 {
		return 0, malformed("guest-file-open", "handle %d", h)
	}
	return h, nil
}

// Info is guest-info's reply: the agent's version and which commands it has enabled.
type Info struct {
	Version  string
	Commands map[string]bool // name → enabled
}

// DecodeInfo reads guest-info's reply.
func DecodeInfo(data string) (Info, error) {
	var w struct {
		Version  string `json:"version"`
		Commands []struct {
			Name    string `json:"name"`
			Enabled bool   `json:"enabled"`
		} `json:"supported_commands"`
	}
	if err := Decode("guest-info", data, &w); err != nil {
		return Info{}, err
	}
	in := Info{Version: w.Version, Commands: make(map[string]bool, len(w.Commands))}
	for _, c := range w.Commands {
		in.Commands[c.Name] = c.Enabled
	}
	return in, nil
}

// Disabled lists those of commands the agent has but does not allow (its --block-rpcs or
// --allow-rpcs policy). Commands it does not know at all are left to fail on use.
func (in Info) Disabled(commands ...string) []string {
	var out []string
	for _, c := range commands {
		if enabled, known := in.Commands[c]; known && !enabled {
			out = append(out, c)
		}
	}
	return out
}

// encodeChunk is one guest-file-write buffer as base64.
func encodeChunk(data []byte) string { return base64.StdEncoding.EncodeToString(data) }
