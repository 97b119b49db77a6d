package app

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/pflag"
)

// flagValueError says what is wrong with a flag's value in the user's terms. pflag's own message
// ends in the parser's error ("strconv.ParseInt: parsing \"abc\": invalid syntax", "time:
// missing unit in duration \"1\""): Go's words, not hvctl's.
func flagValueError(err error) error {
	var iv *pflag.InvalidValueError
	if !errors.As(err, &iv) || iv.GetFlag() == nil {
		return &errs.Error{Kind: errs.Usage, Msg: err.Error(), Err: err}
	}
	fl := iv.GetFlag()
	name := "--" + fl.Name
	if fl.Shorthand != "" {
		name = "-" + fl.Shorthand + "/" + name
	}
	cause := errors.Unwrap(iv)
	var want, hint string
	var num *strconv.NumError
	switch typ := fl.Value.Type(); {
	case typ == "duration":
		want = "a duration"
		hint = "a number with a unit: 30s, 5m, 1h30m (ns, us, ms, s, m, h)"
	case typ == "bool":
		want = "true or false"
	case errors.As(cause, &num) && errors.Is(num.Err, strconv.ErrRange):
		return &errs.Error{Kind: errs.Usage, Msg: fmt.Sprintf("%s %q: out of range", name, output.Escape(iv.GetValue())), Err: err}
	case strings.HasPrefix(typ, "uint"):
		want = "a whole number, 0 or more"
	case strings.HasPrefix(typ, "int"):
		want = "a whole number"
	case strings.HasPrefix(typ, "float"):
		want = "a number"
	default:
		return &errs.Error{Kind: errs.Usage, Msg: err.Error(), Err: err}
	}
	e := &errs.Error{Kind: errs.Usage, Msg: fmt.Sprintf("%s %q: want %s", name, output.Escape(iv.GetValue()), want), Err: err}
	if hint != "" {
		e.Hint = hint
	}
	return e
}
