package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"
)

const agentVM = "t-agent-1"

// startAgentGuest boots one transient test guest for the whole file, its agent refusing
// guest-set-user-password by policy (fw_cfg opt/hvctl/agent-block-rpcs), and waits for the agent.
func (e *env) startAgentGuest() {
	e.t.Helper()
	def := guestDomain(agentVM, e.iso, 9)
	def.SysInfo[0].FWCfg.Entry = append(def.SysInfo[0].FWCfg.Entry, libvirtxml.DomainSysInfoEntry{Name: "opt/hvctl/agent-block-rpcs", Value: "guest-set-user-password"})
	def.Devices.Disks = def.Devices.Disks[:1] // the ISO only: no volume of the shared pool
	x, err := def.Marshal()
	if err != nil {
		e.t.Fatal(err)
	}
	d, err := e.conn.DomainCreateXML(x, 0)
	if err != nil {
		e.t.Fatalf("start %s: %v", agentVM, err)
	}
	e.t.Cleanup(func() { _ = d.Destroy(); _ = d.Free() })
	if out, errOut, code := e.run("vmctl", "wait", agentVM, "--for", "agent", "--timeout", "3m"); code != 0 {
		e.t.Fatalf("wait --for agent: exit %d\n%s%s", code, out, errOut)
	}
}

// runIn is e.run with stdin.
func (e *env) runIn(stdin []byte, prog string, args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(e.bin, prog), args...)
	cmd.Env = append(append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME="+e.config), e.env...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("%s %v: %v", prog, args, err)
	}
	e.t.Logf("%s %s → %d", prog, strings.Join(args, " "), code)
	return out.String(), errb.String(), code
}

func TestGuestAgent(t *testing.T) {
	e := setup(t)
	e.startAgentGuest()

	t.Run("exec passes status and output through", func(t *testing.T) {
		out, errOut, code := e.run("vmctl", "exec", agentVM, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
		if code != 3 || out != "out\n" || errOut != "err\n" {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		// A signal is 128+N, with a warning line (never an error line of hvctl's).
		_, errOut, code = e.run("vmctl", "exec", agentVM, "--", "sh", "-c", "kill -TERM $$")
		if code != 143 || !strings.Contains(errOut, "vmctl: warning: exec "+agentVM+": sh was ended by signal 15 (SIGTERM)") {
			t.Errorf("signal: exit %d, stderr %q", code, errOut)
		}
		var r struct {
			ExitCode   *int   `json:"exit_code"`
			ExitStatus int    `json:"exit_status"`
			Stdout     string `json:"stdout"`
			TimedOut   bool   `json:"timed_out"`
		}
		out, _, code = e.run("vmctl", "exec", agentVM, "--json", "-e", "GREETING=hi there", "--", "sh", "-c", `echo "$GREETING"; ls / >/dev/null; exit 7`)
		if err := json.Unmarshal([]byte(out), &r); err != nil || code != 7 || r.ExitCode == nil || *r.ExitCode != 7 || r.ExitStatus != 7 || r.Stdout != "hi there\n" {
			t.Errorf("--json: exit %d %+v %v\n%s", code, r, err, out)
		}
		// hvctl's own failure: its code, a 'vmctl:' line, and no result on stdout.
		out, errOut, code = e.run("vmctl", "exec", agentVM, "--cwd", "/tmp", "--json", "--", "pwd")
		if code != 2 || out != "" || !strings.Contains(errOut, `"code":"usage"`) || !strings.Contains(errOut, "cannot set a working directory") {
			t.Errorf("--cwd on qemu-ga 7.2: exit %d %q %q", code, out, errOut)
		}
	})

	t.Run("exec output over libvirt's message limit", func(t *testing.T) {
		// 4 MB of output is 5.3 MB as base64: libvirtd cannot send the reply, the agent has
		// already forgotten the process. One clear line, hvctl's exit 1, never a guessed status.
		out, errOut, code := e.run("vmctl", "exec", agentVM, "--", "head", "-c", "4000000", "/dev/zero")
		if code != 1 || out != "" || !strings.Contains(errOut, "more than libvirt carries in one message") {
			t.Errorf("exit %d, stdout %d bytes, stderr %q", code, len(out), errOut)
		}
		// Below it, the output arrives whole.
		out, _, code = e.run("vmctl", "exec", agentVM, "--", "head", "-c", "2000000", "/dev/zero")
		if code != 0 || len(out) != 2000000 {
			t.Errorf("2 MB of output: exit %d, %d bytes", code, len(out))
		}
	})

	t.Run("exec sends stdin", func(t *testing.T) {
		in := []byte("line one\nline two\x00binary\xff\n")
		out, errOut, code := e.runIn(in, "vmctl", "exec", agentVM, "--", "sh", "-c", "cat; echo done >&2")
		if code != 0 || out != string(in) || errOut != "done\n" {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		out, _, code = e.runIn(in, "vmctl", "exec", agentVM, "-n", "--", "wc", "-c")
		if code != 0 || strings.TrimSpace(out) != "0" {
			t.Errorf("-n: exit %d, stdout %q", code, out)
		}
	})

	t.Run("exec timeout kills the process group", func(t *testing.T) {
		start := time.Now()
		out, errOut, code := e.run("vmctl", "exec", agentVM, "--timeout", "3s", "--", "sh", "-c", "echo started; sleep 300 & sleep 301")
		took := time.Since(start)
		if code != 5 || out != "started\n" || !strings.Contains(errOut, "did not end within 3s; killed it in the guest") || took > 20*time.Second {
			t.Errorf("exit %d after %s, stdout %q, stderr %q", code, took, out, errOut)
		}
		out, _, _ = e.run("vmctl", "exec", agentVM, "--", "ps")
		if strings.Contains(out, "sleep 30") {
			t.Errorf("the killed command's processes still run:\n%s", out)
		}
	})

	t.Run("cp round-trips a binary file", func(t *testing.T) {
		// 1.5 MiB of random bytes with NULs: several 128 KiB writes and two 1 MiB reads.
		data := make([]byte, 3<<19)
		if _, err := rand.Read(data); err != nil {
			t.Fatal(err)
		}
		copy(data[1000:], make([]byte, 64))
		dir := t.TempDir()
		src := filepath.Join(dir, "blob.bin")
		if err := os.WriteFile(src, data, 0o640); err != nil {
			t.Fatal(err)
		}
		sum := fmt.Sprintf("%x", sha256.Sum256(data))
		if out, errOut, code := e.run("vmctl", "cp", src, agentVM+":/tmp/"); code != 0 {
			t.Fatalf("cp to the guest: exit %d %s%s", code, out, errOut)
		}
		out, _, _ := e.run("vmctl", "exec", agentVM, "--", "sh", "-c", "sha256sum /tmp/blob.bin; stat -c %a /tmp/blob.bin; ls -a /tmp")
		if !strings.HasPrefix(out, sum+"  /tmp/blob.bin\n640\n") || strings.Contains(out, ".part") {
			t.Errorf("in the guest:\n%s\nwant sha256 %s and mode 640", out, sum)
		}
		if _, errOut, code := e.run("vmctl", "cp", src, agentVM+":/tmp/blob.bin"); code != 4 || !strings.Contains(errOut, "--force") {
			t.Errorf("over an existing file: exit %d %s", code, errOut)
		}
		var r struct {
			Direction, Destination string
			Size                   int64 `json:"size_bytes"`
		}
		e.ok(&r, "vmctl", "cp", "--force", src, agentVM+":/tmp/blob.bin")
		if r.Direction != "to_guest" || r.Destination != "/tmp/blob.bin" || r.Size != int64(len(data)) {
			t.Errorf("--json: %+v", r)
		}
		back := filepath.Join(dir, "back")
		if out, errOut, code := e.run("vmctl", "cp", agentVM+":/tmp/blob.bin", back); code != 0 {
			t.Fatalf("cp from the guest: exit %d %s%s", code, out, errOut)
		}
		got, err := os.ReadFile(back)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("the copy back differs (%d bytes, %v)", len(got), err)
		}
		if fi, _ := os.Stat(back); fi.Mode().Perm() != 0o640 {
			t.Errorf("mode of the copy back: %v", fi.Mode())
		}
		if _, errOut, code := e.run("vmctl", "cp", agentVM+":/tmp", dir); code != 2 || !strings.Contains(errOut, "is a directory") {
			t.Errorf("a guest directory: exit %d %s", code, errOut)
		}
		if _, errOut, code := e.run("vmctl", "cp", agentVM+":/tmp/none", dir); code != 3 {
			t.Errorf("a missing guest file: exit %d %s", code, errOut)
		}
	})

	t.Run("cp cut short leaves no partial file", func(t *testing.T) {
		big := filepath.Join(t.TempDir(), "big.bin")
		// 24 MiB against 2 s: an idle machine copies into the guest at about 1.5 MB/s (4 MiB took
		// 2.8 s once, finishing inside a 3 s bound), a loaded one at a third of that.
		if err := os.WriteFile(big, bytes.Repeat([]byte("0123456789abcdef"), 24<<16), 0o600); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := e.run("vmctl", "cp", "--timeout", "2s", big, agentVM+":/tmp/big.bin")
		if code != 5 || !strings.Contains(errOut, "the copy did not finish within 2s; nothing was left behind") {
			t.Errorf("cp past --timeout: exit %d %s", code, errOut)
		}
		out, _, _ := e.run("vmctl", "exec", agentVM, "--", "ls", "-a", "/tmp")
		if strings.Contains(out, "big.bin") {
			t.Errorf("left in the guest:\n%s", out)
		}
	})

	t.Run("guest info, fstrim and a password the agent refuses", func(t *testing.T) {
		var gi struct {
			Hostname string
			OS       struct {
				KernelRelease string `json:"kernel_release"`
			}
			Interfaces []struct{ Name, MAC string }
		}
		e.ok(&gi, "vmctl", "guest", "info", agentVM)
		if gi.Hostname != agentVM || gi.OS.KernelRelease == "" || len(gi.Interfaces) < 2 {
			t.Errorf("guest info: %+v", gi)
		}
		out, _, code := e.run("vmctl", "guest", "info", agentVM)
		if code != 0 || !strings.Contains(out, "hostname    "+agentVM+"\n") {
			t.Errorf("guest info table: exit %d\n%s", code, out)
		}
		if out, errOut, code := e.run("vmctl", "guest", "fstrim", agentVM); code != 0 {
			t.Errorf("fstrim: exit %d %s%s", code, out, errOut)
		}
		// This guest's agent disables guest-set-user-password (its fw_cfg policy).
		out, errOut, code := e.runIn([]byte("s3cret\n"), "vmctl", "guest", "password", agentVM, "root")
		if code != 7 || out != "" || !strings.Contains(errOut, "vmctl: guest password "+agentVM+": the guest agent of "+agentVM+" refuses guest-set-user-password: disabled by its policy") ||
			!strings.Contains(errOut, "--block-rpcs") {
			t.Errorf("blocked command: exit %d %q %q", code, out, errOut)
		}
	})

	t.Run("no agent", func(t *testing.T) {
		// Two VMs that boot nothing: one with the agent's channel (never connected), one without.
		for name, channel := range map[string]string{"t-agent-nochan": "", "t-agent-silent": `<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>`} {
			d, err := e.conn.DomainCreateXML(`<domain type='qemu'><name>`+name+`</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os><devices>`+channel+`<memballoon model='none'/></devices></domain>`, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = d.Destroy(); _ = d.Free() })
			want := "the guest agent of " + name + " is not connected"
			if channel == "" {
				want = name + " has no guest agent channel"
			}
			for _, args := range [][]string{{"exec", name, "--", "true"}, {"guest", "info", name}} {
				out, errOut, code := e.run("vmctl", args...)
				if code != 11 || out != "" || !strings.Contains(errOut, want) || strings.Count(errOut, "\n") != 2 {
					t.Errorf("%v: exit %d %q %q", args, code, out, errOut)
				}
			}
		}
	})
}
