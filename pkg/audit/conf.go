package audit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/model"
)

// ConfType is the type virConf gives a value.
type ConfType int

// The value types of a libvirt configuration file.
const (
	ConfString ConfType = iota + 1 // '…', "…" or """…"""
	ConfInt                        // an optionally signed decimal integer
	ConfList                       // [ value, … ]
)

// ConfValue is one value of a libvirt configuration file.
type ConfValue struct {
	Type ConfType
	Str  string
	Int  int64
	List []ConfValue
	Line int    // 1-based line where the value starts
	Raw  string // the value as written, for findings
}

type confEntry struct {
	key   string
	value ConfValue
}

// Conf is a parsed libvirt configuration file (qemu.conf, libvirtd.conf, virtqemud.conf …).
type Conf struct {
	Name    string // the file's base name, used as a finding's target: qemu.conf
	Path    string // the file's host path: /etc/libvirt/qemu.conf
	Missing bool   // the file does not exist: every key has its compiled default
	Err     error  // the file could not be read or parsed: libvirt would not start with it either
	entries []confEntry
}

// ConfSyntaxError is a syntax error, with the line virConf would report.
type ConfSyntaxError struct {
	Path string
	Line int
	Msg  string
}

func (e *ConfSyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg) }

// ParseConf parses a configuration file the way libvirt's virConf does (src/util/virconf.c):
// statements `name = value` separated by newlines or `;`; values are strings in single, double
// or triple double quotes (no escapes, single-line except triple), optionally signed integers,
// or [ lists ] of values separated by commas, which may span lines and end with a comma; `#`
// starts a comment at the start of a statement or after its value, but not inside a list.
// A syntax error fails the whole file, as it fails libvirt's daemon. Duplicate keys are kept:
// lookups return the first, as virConfGetValue does.
func ParseConf(path string, data []byte) (*Conf, error) {
	p := &confParser{path: path, s: string(data), line: 1}
	c := &Conf{Name: filepath.Base(path), Path: path}
	for {
		p.skipBlanksAndEOL()
		if p.eof() {
			return c, nil
		}
		if p.peek() == '#' {
			p.skipToEOL()
			continue
		}
		key, err := p.name()
		if err != nil {
			return nil, err
		}
		p.skipBlanks()
		if p.peek() != '=' {
			return nil, p.errorf("expecting an assignment")
		}
		p.pos++
		p.skipBlanks()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		c.entries = append(c.entries, confEntry{key, v})
		p.skipBlanks()
		if p.peek() == '#' {
			p.skipToEOL()
		}
		// The separator: end of input, end of line or ';'.
		switch {
		case p.eof():
		case p.peek() == '\n' || p.peek() == '\r':
		case p.peek() == ';':
			p.pos++
		default:
			return nil, p.errorf("expecting a separator")
		}
	}
}

type confParser struct {
	path string
	s    string
	pos  int
	line int
}

func (p *confParser) eof() bool { return p.pos >= len(p.s) }
func (p *confParser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.pos]
}
func (p *confParser) errorf(format string, args ...any) error {
	return &ConfSyntaxError{Path: p.path, Line: p.line, Msg: fmt.Sprintf(format, args...)}
}
func (p *confParser) skipBlanks() {
	for !p.eof() && (p.peek() == ' ' || p.peek() == '\t') {
		p.pos++
	}
}
func (p *confParser) skipBlanksAndEOL() {
	for !p.eof() && strings.IndexByte(" \t\r\n", p.peek()) >= 0 {
		if p.peek() == '\n' {
			p.line++
		}
		p.pos++
	}
}
func (p *confParser) skipToEOL() {
	for !p.eof() && p.peek() != '\n' && p.peek() != '\r' {
		p.pos++
	}
}

func isAlpha(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }
func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func (p *confParser) name() (string, error) {
	start := p.pos
	if !isAlpha(p.peek()) {
		return "", p.errorf("expecting a name")
	}
	for !p.eof() && (isAlpha(p.peek()) || isDigit(p.peek()) || p.peek() == '_') {
		p.pos++
	}
	return p.s[start:p.pos], nil
}

func (p *confParser) value() (ConfValue, error) {
	p.skipBlanks()
	start, line := p.pos, p.line
	v := ConfValue{Line: line}
	switch c := p.peek(); {
	case p.eof():
		return v, p.errorf("expecting a value")
	case c == '"' || c == '\'':
		s, err := p.str()
		if err != nil {
			return v, err
		}
		v.Type, v.Str = ConfString, s
	case c == '[':
		p.pos++
		v.Type = ConfList
		v.List = []ConfValue{}
		p.skipBlanksAndEOL()
		for !p.eof() && p.peek() != ']' {
			if len(v.List) > 0 {
				if p.peek() != ',' {
					return v, p.errorf("expecting a separator in list")
				}
				p.pos++
				p.skipBlanksAndEOL()
				if p.peek() == ']' {
					break
				}
			}
			item, err := p.value()
			if err != nil {
				return v, err
			}
			v.List = append(v.List, item)
			p.skipBlanksAndEOL()
		}
		if p.peek() != ']' {
			return v, p.errorf("list is not closed with ]")
		}
		p.pos++
	case isDigit(c) || c == '-' || c == '+':
		neg := c == '-'
		if c == '-' || c == '+' {
			p.pos++
		}
		if !isDigit(p.peek()) {
			return v, p.errorf("unterminated number")
		}
		// Accumulated as virConfParseLong does, which does not check for overflow: a number too
		// long for 64 bits wraps there, so it wraps here too.
		var n uint64
		for isDigit(p.peek()) {
			n = n*10 + uint64(p.peek()-'0')
			p.pos++
		}
		v.Type, v.Int = ConfInt, int64(n)
		if neg {
			v.Int = -v.Int
		}
	default:
		return v, p.errorf("expecting a value")
	}
	v.Raw = p.s[start:p.pos]
	return v, nil
}

func (p *confParser) str() (string, error) {
	if strings.HasPrefix(p.s[p.pos:], `"""`) {
		p.pos += 3
		end := strings.Index(p.s[p.pos:], `"""`)
		if end < 0 {
			return "", p.errorf("unterminated string")
		}
		s := p.s[p.pos : p.pos+end]
		p.line += strings.Count(s, "\n")
		p.pos += end + 3
		return s, nil
	}
	quote := p.peek()
	p.pos++
	start := p.pos
	for !p.eof() && p.peek() != quote && p.peek() != '\n' && p.peek() != '\r' {
		p.pos++
	}
	if p.peek() != quote {
		return "", p.errorf("unterminated string")
	}
	s := p.s[start:p.pos]
	p.pos++
	return s, nil
}

// Lookup returns the first setting of key, as libvirt does.
func (c *Conf) Lookup(key string) (ConfValue, bool) {
	if c == nil {
		return ConfValue{}, false
	}
	for _, e := range c.entries {
		if e.key == key {
			return e.value, true
		}
	}
	return ConfValue{}, false
}

// Int is an integer setting (booleans are 0 or 1); set is false when the key is absent. A
// value of another type is an error, as it is for libvirt (virConfGetValueInt/Bool).
func (c *Conf) Int(key string) (n int64, set bool, err error) {
	v, ok := c.Lookup(key)
	if !ok {
		return 0, false, nil
	}
	if v.Type != ConfInt {
		return 0, true, c.typeError(key, v, "an integer")
	}
	return v.Int, true, nil
}

// String is a string setting.
func (c *Conf) String(key string) (s string, set bool, err error) {
	v, ok := c.Lookup(key)
	if !ok {
		return "", false, nil
	}
	if v.Type != ConfString {
		return "", true, c.typeError(key, v, "a string")
	}
	return v.Str, true, nil
}

// Strings is a list of strings; a single string counts as a one-item list, as libvirt reads
// security_driver and its like (virConfGetValueStringList with compatString).
func (c *Conf) Strings(key string) (list []string, set bool, err error) {
	v, ok := c.Lookup(key)
	if !ok {
		return nil, false, nil
	}
	switch v.Type {
	case ConfString:
		return []string{v.Str}, true, nil
	case ConfList:
		list = []string{}
		for _, item := range v.List {
			if item.Type != ConfString {
				return nil, true, c.typeError(key, v, "a list of strings")
			}
			list = append(list, item.Str)
		}
		return list, true, nil
	}
	return nil, true, c.typeError(key, v, "a string or a list of strings")
}

func (c *Conf) typeError(key string, v ConfValue, want string) error {
	return fmt.Errorf("%s:%d: %s = %s: libvirt expects %s and refuses the file", c.Path, v.Line, key, v.Raw, want)
}

// Setting is `key = value` as written, for a finding's detail ("key (default)" when unset).
func (c *Conf) Setting(key string) string {
	if v, ok := c.Lookup(key); ok {
		return key + " = " + v.Raw
	}
	return key + " (unset)"
}

// Loc is where key is set (the file alone when it is not set).
func (c *Conf) Loc(key string) *model.FindingLocation {
	if c == nil {
		return nil
	}
	l := &model.FindingLocation{File: c.Path}
	if v, ok := c.Lookup(key); ok {
		l.Line = v.Line
	}
	return l
}

// ReadConf reads and parses a configuration file under root (path is the host path). A
// missing file is not an error: libvirt then uses its compiled defaults.
func ReadConf(root, path string) *Conf {
	c := &Conf{Name: filepath.Base(path), Path: path}
	b, err := os.ReadFile(filepath.Join(root, path))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.Missing = true
		return c
	case err != nil:
		c.Err = fmt.Errorf("cannot read %s: %w", path, err)
		return c
	}
	parsed, err := ParseConf(path, b)
	if err != nil {
		c.Err = err
		return c
	}
	return parsed
}

// LoadHost reads what the host-side controls need besides libvirt's API: the configuration
// files of the daemons in use on this host (under Root), and on the live host (Root "/") the
// firewall ruleset. On a modular host (virtqemud, virtproxyd …) the daemons read their own
// files, not libvirtd.conf.
func (inv *Inventory) LoadHost(ctx context.Context) {
	inv.QEMUConf = ReadConf(inv.Root, "/etc/libvirt/qemu.conf")
	if inv.modular() {
		inv.RemoteConf = ReadConf(inv.Root, "/etc/libvirt/virtproxyd.conf")
		inv.DriverConf = ReadConf(inv.Root, "/etc/libvirt/virtqemud.conf")
	} else {
		c := ReadConf(inv.Root, "/etc/libvirt/libvirtd.conf")
		inv.RemoteConf, inv.DriverConf = c, c
	}
	if inv.Root == "/" {
		inv.Firewall = ReadFirewall(ctx)
	}
}

// modular says whether the QEMU driver runs in virtqemud rather than in libvirtd: libvirtd
// running says no; virtqemud running, or its socket, says yes.
func (inv *Inventory) modular() bool {
	if running(inv, "libvirtd") {
		return false
	}
	if running(inv, "virtqemud") {
		return true
	}
	_, err := os.Stat(inv.Path("run/libvirt/virtqemud-sock"))
	return err == nil
}

// withConf runs check on a configuration file that was read: a remote host skips it (its files
// are not here), an unreadable or unparsable file is an error (never a pass).
func withConf(pick func(inv *Inventory) *Conf, check func(inv *Inventory, c *Conf) []Result) func(inv *Inventory) []Result {
	return func(inv *Inventory) []Result {
		if !inv.Local {
			return []Result{skipped("host", notHere(inv)+": its configuration files cannot be read from here")}
		}
		c := pick(inv)
		if c == nil {
			return []Result{skipped("host", "the configuration was not loaded")}
		}
		if c.Err != nil {
			return []Result{errored(c.Name, c.Err).at(&model.FindingLocation{File: c.Path, Line: syntaxLine(c.Err)})}
		}
		return check(inv, c)
	}
}

func syntaxLine(err error) int {
	var se *ConfSyntaxError
	if errors.As(err, &se) {
		return se.Line
	}
	return 0
}

func qemuConf(inv *Inventory) *Conf   { return inv.QEMUConf }
func remoteConf(inv *Inventory) *Conf { return inv.RemoteConf }
func driverConf(inv *Inventory) *Conf { return inv.DriverConf }

// flag is a 0/1 setting with its default; a value of the wrong type is returned as an error
// result for the caller to report.
func flag(c *Conf, key string, def bool) (bool, *Result) {
	n, set, err := c.Int(key)
	if err != nil {
		r := errored(c.Name, err).at(c.Loc(key))
		return false, &r
	}
	if !set {
		return def, nil
	}
	return n != 0, nil
}

// str is a string setting with its default.
func str(c *Conf, key, def string) (string, *Result) {
	s, set, err := c.String(key)
	if err != nil {
		r := errored(c.Name, err).at(c.Loc(key))
		return "", &r
	}
	if !set {
		return def, nil
	}
	return s, nil
}

// confFlag is a control that fails when a 0/1 setting has the bad value (unset: def).
func confFlag(pick func(inv *Inventory) *Conf, key string, def, bad bool, detail, fix string) func(inv *Inventory) []Result {
	return withConf(pick, func(_ *Inventory, c *Conf) []Result {
		v, errR := flag(c, key, def)
		if errR != nil {
			return []Result{*errR}
		}
		if v == bad {
			return []Result{fail(c.Name, "%s: %s", c.Setting(key), detail).at(c.Loc(key)).fix("%s", fix)}
		}
		return []Result{pass(c.Name, "%s", c.Setting(key))}
	})
}
