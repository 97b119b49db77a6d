package vm

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/profile"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"libvirt.org/go/libvirtxml"
)

// --update-profile adds the attached device to the VM's profile as one more [[extra_disks]] or
// [[network]] entry, appended to the file's text: go-toml/v2 decodes and encodes documents but
// keeps no comments, and a profile's comments are its documentation. An array-of-tables entry
// appended at the end of a TOML file is valid wherever the file's other tables are, so the rest
// of the text stays byte for byte. The device attached is then the one the updated profile
// renders (its volume name, target, filter), so that vmctl diff finds the VM in sync.

// appendTable returns text with a new [[table]] entry of keys (already valid TOML values) at its
// end; nothing before it changes.
func appendTable(text, table string, keys [][2]string) string {
	var b strings.Builder
	b.WriteString(text)
	if text != "" && !strings.HasSuffix(text, "\n") {
		b.WriteString("\n")
	}
	b.WriteString("\n# added by vmctl " + map[string]string{"extra_disks": "disk", "network": "nic"}[table] + " attach --update-profile\n")
	b.WriteString("[[" + table + "]]\n")
	for _, kv := range keys {
		b.WriteString(kv[0] + " = " + kv[1] + "\n")
	}
	return b.String()
}

// tomlString is s as a TOML basic string. The callers' values are validated names and sizes;
// strconv's escapes for anything else are TOML's too, except \x, which validation excludes.
func tomlString(s string) string { return strconv.Quote(s) }

// profileEdit is a profile file with one entry appended, written next to it and loaded back,
// not yet in place: commit renames it over the profile, discard removes it.
type profileEdit struct {
	path, tmp     string
	before, after *profile.Profile
	bridges       map[string]string
}

// prepareProfileEdit appends [[table]] keys to the profile of vm (named in its hvctl metadata)
// and loads the result, refusing what would not load or would change the profile's existing
// entries of that table (an inherited or defaulted list the new entry would replace).
func prepareProfileEdit(f *cmdutil.Factory, vm, name, table string, keys [][2]string) (*profileEdit, error) {
	if name == "" {
		return nil, errs.New(errs.Conflict, "--update-profile: %s was not made from a profile", vm).
			WithHint("leave --update-profile out")
	}
	lo, bridges, err := profileOptions(f)
	if err != nil {
		return nil, err
	}
	path, err := profile.Resolve(name, lo.Dir)
	if err != nil {
		return nil, errs.Wrap(err, "--update-profile")
	}
	before, err := profile.Load(path, lo)
	if err != nil {
		return nil, errs.Wrap(err, "--update-profile: the profile does not load as it is")
	}
	if before.Name != vm {
		return nil, errs.New(errs.Conflict, "--update-profile: %s describes VM %s, not %s", path, before.Name, vm)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, errs.New(errs.Failure, "--update-profile: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, errs.New(errs.Failure, "--update-profile: %v", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, errs.New(errs.Failure, "--update-profile: %v", err)
	}
	e := &profileEdit{path: path, tmp: tmp.Name(), before: before, bridges: bridges}
	_, err = tmp.WriteString(appendTable(string(text), table, keys))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(e.tmp, st.Mode().Perm())
	}
	if err != nil {
		e.discard()
		return nil, errs.New(errs.Failure, "--update-profile: %v", err)
	}
	if e.after, err = profile.Load(e.tmp, lo); err != nil {
		e.discard()
		return nil, errs.New(errs.Conflict, "--update-profile: %s does not take a [[%s]] entry at its end: %v", path, table, err).
			WithHint("add the entry to the profile by hand")
	}
	if !e.extends(table) {
		e.discard()
		return nil, errs.New(errs.Conflict, "--update-profile: a [[%s]] entry in %s would replace the %s the profile has now (inherited through extends, or the default)", table, path, table).
			WithHint("write the present entries into %s first, or add the new one by hand", path)
	}
	return e, nil
}

// extends says whether the edited profile's table is the old one plus one entry.
func (e *profileEdit) extends(table string) bool {
	if table == "extra_disks" {
		return plusOne(e.before.ExtraDisks, e.after.ExtraDisks)
	}
	return plusOne(e.before.Networks, e.after.Networks)
}

func plusOne[T comparable](old, now []T) bool {
	return len(now) == len(old)+1 && slices.Equal(old, now[:len(old)])
}

// render is the updated profile's domain, as create and diff render it.
func (e *profileEdit) render(ctx context.Context, f *cmdutil.Factory, conn *virt.Conn) (*libvirtxml.Domain, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	bo, err := buildOptions(ctx, conn, cfg.Config, e.after, e.bridges)
	if err != nil {
		return nil, errs.Wrap(err, "--update-profile")
	}
	def, err := domainxml.Build(e.after, bo)
	if err != nil {
		return nil, errs.New(errs.Usage, "--update-profile: %v", err)
	}
	return def, nil
}

// commit puts the edited profile in place of the old one, atomically.
func (e *profileEdit) commit() error {
	if err := os.Rename(e.tmp, e.path); err != nil {
		e.discard()
		return errs.New(errs.Failure, "the device is attached, but its profile %s could not be updated: %v", e.path, err)
	}
	return nil
}

// discard drops the edit; the profile stays as it was.
func (e *profileEdit) discard() { _ = os.Remove(e.tmp) }
