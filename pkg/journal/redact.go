package journal

import (
	"net/url"
	"strings"
)

// Redacted replaces a secret on the recorded command line.
const Redacted = "REDACTED"

// Flag describes one flag of the command whose argv is redacted.
type Flag struct {
	TakesValue bool // false for booleans: the next word is not its value
	Secret     bool // its value is never recorded
}

// LookupFlag finds a flag by long name ("password") or by shorthand ("p"); ok false when the
// command has no such flag.
type LookupFlag func(name string, short bool) (f Flag, ok bool)

// secretWords make a flag secret by its name alone, whatever command declares it: a value
// given on the command line as --password or --nats-token is never recorded. Commands mark
// other secret flags explicitly (cmdutil.MarkSecret). Files of credentials (--creds) are paths,
// not secrets: their contents never reach argv.
var secretWords = []string{"password", "passwd", "passphrase", "secret", "token"}

// IsSecretName says whether a flag or URL query parameter name says it holds a secret.
func IsSecretName(name string) bool {
	name = strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// Redact returns argv with secrets replaced: the values of secret flags (--password x,
// --password=x, -p x, -px), and in every word the passwords of URLs (nats://u:pw@host,
// qemu+ssh://u:pw@host/system), the user part of a NATS URL with no password (a NATS token),
// and URL query parameters named like secrets (?password=…). argv[0] is kept as it is.
func Redact(argv []string, lookup LookupFlag) []string {
	out := make([]string, len(argv))
	copy(out, argv)
	for i := 1; i < len(out); i++ {
		a := out[i]
		switch {
		case a == "--":
			for k := i + 1; k < len(out); k++ {
				out[k] = RedactURLs(out[k])
			}
			return out
		case strings.HasPrefix(a, "--"):
			name, value, hasValue := strings.Cut(a[2:], "=")
			fl, ok := lookup(name, false)
			switch {
			case ok && fl.Secret && hasValue:
				out[i] = "--" + name + "=" + Redacted
			case ok && fl.Secret && fl.TakesValue && i+1 < len(out):
				i++
				out[i] = Redacted
			case hasValue:
				out[i] = "--" + name + "=" + RedactURLs(value)
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			// A cluster of shorthands: -yq, -j4, -p secret, -psecret.
			for k := 1; k < len(a); k++ {
				fl, ok := lookup(a[k:k+1], true)
				if !ok || !fl.TakesValue {
					continue
				}
				rest := a[k+1:]
				switch {
				case fl.Secret && rest != "":
					out[i] = a[:k+1] + Redacted
				case fl.Secret && i+1 < len(out):
					i++
					out[i] = Redacted
				case rest != "":
					out[i] = a[:k+1] + RedactURLs(rest)
				}
				break
			}
		default:
			out[i] = RedactURLs(a)
		}
	}
	return out
}

// RedactURLs redacts the secrets of a URL in s (see Redact), also one after a prefix such as
// url=https://…; anything else is returned unchanged.
func RedactURLs(s string) string {
	sep := strings.Index(s, "://")
	if sep < 0 {
		return s
	}
	start := sep // the scheme starts after the last character that cannot be in one
	for start > 0 && isSchemeChar(s[start-1]) {
		start--
	}
	prefix, rest := s[:start], s[start:]
	u, err := url.Parse(rest)
	if err != nil || u.Scheme == "" {
		// Not parseable: redact all of the userinfo, if there is one.
		if at := strings.LastIndex(rest, "@"); at > sep-start {
			return prefix + rest[:sep-start+3] + Redacted + rest[at:]
		}
		return s
	}
	changed := false
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Redacted)
			changed = true
		} else if isNATS(u.Scheme) {
			u.User = url.User(Redacted) // nats://TOKEN@host
			changed = true
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		secret := false
		for k := range q {
			if IsSecretName(k) {
				q[k] = []string{Redacted}
				secret = true
			}
		}
		if secret {
			u.RawQuery = q.Encode()
			changed = true
		}
	}
	if !changed {
		return s
	}
	return prefix + u.String()
}

func isSchemeChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
}

func isNATS(scheme string) bool {
	switch strings.ToLower(scheme) {
	case "nats", "tls", "ws", "wss":
		return true
	}
	return false
}
