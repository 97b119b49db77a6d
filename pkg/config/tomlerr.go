package config

import (
	"errors"
	"regexp"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// TOMLError is a usage error for a TOML file go-toml could not decode strictly, naming
// file:line:col where go-toml knows the place. keys, when given, says what the table takes and
// follows an unknown key ("a waiver has control, target, reason and expires").
func TOMLError(file string, err error, keys string) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		d := strict.Errors[0]
		row, col := d.Position()
		msg := strings.Join(d.Key(), ".")
		if keys != "" {
			return errs.New(errs.Usage, "%s:%d:%d: unknown key %q (%s)", file, row, col, msg, keys)
		}
		return errs.New(errs.Usage, "%s:%d:%d: unknown key %q", file, row, col, msg)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		// go-toml words a type mismatch in Go's terms ("struct field config.Paths.ISOs of type
		// string"): say it with the TOML key and TOML's words for the types instead.
		if m := typeMismatch.FindStringSubmatch(de.Error()); m != nil && len(de.Key()) > 0 {
			return errs.New(errs.Usage, "%s:%d:%d: %s must be %s, not %s", file, row, col,
				strings.Join(de.Key(), "."), tomlWord(m[2]), article(m[1]))
		}
		return errs.New(errs.Usage, "%s:%d:%d: %s", file, row, col, de.Error())
	}
	var pe *unstable.ParserError
	if errors.As(err, &pe) {
		return errs.New(errs.Usage, "%s: %s", file, pe.Error())
	}
	return errs.New(errs.Usage, "%s: %w", file, err)
}

// typeMismatch is go-toml's message for a value of the wrong type: the TOML type, then the Go
// type (after "struct field PKG.T.F of type" when the target is a struct field).
var typeMismatch = regexp.MustCompile(`cannot decode TOML ([a-z ]+?) into (?:struct field \S+ of type )?(\S+)$`)

// tomlWord names a Go target type as TOML calls the value it takes.
func tomlWord(goType string) string {
	switch t := strings.TrimLeft(goType, "*"); {
	case t == "string":
		return "a string"
	case t == "bool":
		return "a boolean"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a float"
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.HasPrefix(t, "map["):
		return "a table"
	case t == "time.Time":
		return "a date"
	case t == "time.Duration":
		return "a duration"
	}
	return "another type"
}

// article puts "a" or "an" before a TOML type name ("an integer", "a string").
func article(word string) string {
	if strings.ContainsRune("aeiou", rune(word[0])) {
		return "an " + word
	}
	return "a " + word
}
