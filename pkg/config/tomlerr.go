package config

import (
	"errors"
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
		return errs.New(errs.Usage, "%s:%d:%d: %s", file, row, col, de.Error())
	}
	var pe *unstable.ParserError
	if errors.As(err, &pe) {
		return errs.New(errs.Usage, "%s: %s", file, pe.Error())
	}
	return errs.New(errs.Usage, "%s: %w", file, err)
}
