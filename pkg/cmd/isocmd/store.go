package isocmd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
)

// The two stores, as --store names them.
const (
	storeISOs   = "isos"
	storeImages = "images"
)

// storeNames are the values of --store, for validation and completion alike.
var storeNames = []string{storeISOs, storeImages}

// store is one of the two image directories and the libvirt pool it gets when none serves it.
type store struct{ name, dir, pool string }

func stores(f *cmdutil.Factory) ([]store, error) {
	l, err := f.Config()
	if err != nil {
		return nil, err
	}
	return []store{
		{storeISOs, l.Config.Paths.ISOs, poolName(storeISOs, l.Config.Paths.ISOs, "/var/lib/hvctl/isos")},
		{storeImages, l.Config.Paths.Images, poolName(storeImages, l.Config.Paths.Images, "/var/lib/hvctl/images")},
	}, nil
}

// storeFor is the store named by --store (want), or by the image's extension when none is.
func storeFor(f *cmdutil.Factory, name, want string) (store, error) {
	all, err := stores(f)
	if err != nil {
		return store{}, err
	}
	if want == "" {
		want = storeImages
		if strings.HasSuffix(strings.ToLower(name), ".iso") {
			want = storeISOs
		}
	}
	if i := slices.IndexFunc(all, func(s store) bool { return s.name == want }); i >= 0 {
		return all[i], nil
	}
	return store{}, errs.New(errs.Usage, "--store must be %s, not %q", strings.Join(storeNames, " or "), want)
}

// poolName is the libvirt pool a store gets when no pool serves its directory yet: hvctl-isos
// and hvctl-images for the default paths (as before), else the kind and a digest of the path,
// so that two configurations with different stores never claim one pool.
func poolName(kind, dir, defaultDir string) string {
	if filepath.Clean(dir) == defaultDir {
		return "hvctl-" + kind
	}
	sum := sha256.Sum256([]byte(filepath.Clean(dir)))
	return "hvctl-" + kind + "-" + hex.EncodeToString(sum[:4])
}

// storePool makes sure a pool serves the store and names it: the pool that serves the directory
// already, whatever its name (an older hvctl's, or the administrator's own), or a new one.
func storePool(ctx context.Context, conn *virt.Conn, s store) (string, error) {
	name, ok, err := conn.PoolServing(ctx, s.dir)
	if err != nil {
		return "", err
	}
	if !ok {
		name = s.pool
	}
	return name, conn.EnsureDirPool(ctx, name, s.dir)
}

// refreshPool makes the new file a libvirt volume; without libvirt the file is still stored.
func refreshPool(ctx context.Context, f *cmdutil.Factory, s store) {
	c, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := f.Connect(c, false)
	if err != nil {
		f.Infof("%s: stored, but not registered with libvirt: %v", f.Prog, err)
		return
	}
	defer conn.Close()
	if _, err := storePool(c, conn, s); err != nil {
		f.Infof("%s: stored, but not registered with libvirt: %v", f.Prog, err)
	}
}

// remote says whether the stores are reached only through libvirt: on another host, or when
// HVCTL_STORE_VIA_LIBVIRT=1 says so (a user in the libvirt group without access to the files).
func remote(f *cmdutil.Factory) bool {
	if f.Getenv("HVCTL_STORE_VIA_LIBVIRT") == "1" {
		return true
	}
	uri, err := f.URI()
	return err == nil && virt.IsRemote(uri)
}

func notFound(name string) error {
	return errs.New(errs.NotFound, "image %s not found", name).WithHint("see the store with: isoctl list")
}

// find locates a stored image by file name in either store, else the newest image pulled as the
// catalogue entry of that name.
func find(ctx context.Context, f *cmdutil.Factory, name string) (store, *iso.Record, error) {
	all, err := stores(f)
	if err != nil {
		return store{}, nil, err
	}
	if remote(f) {
		entries, err := listRemote(ctx, f, all, nil)
		if err != nil {
			return store{}, nil, err
		}
		storeNamed := func(n string) (store, bool) {
			i := slices.IndexFunc(all, func(s store) bool { return s.name == n })
			if i < 0 {
				return store{}, false
			}
			return all[i], true
		}
		var recs []iso.Record
		storeOf := map[string]string{}
		for _, e := range entries {
			if e.Name == name {
				if s, ok := storeNamed(e.Store); ok {
					r := e.ImageRecord
					return s, &r, nil
				}
			}
			recs = append(recs, e.ImageRecord)
			storeOf[e.Name] = e.Store
		}
		if r, ok := iso.NewestOf(recs, name); ok {
			if s, ok := storeNamed(storeOf[r.Name]); ok {
				return s, &r, nil
			}
		}
		return store{}, nil, notFound(name)
	}
	for _, s := range all {
		if r, err := iso.ReadRecord(s.dir, name); err == nil {
			return s, r, nil
		}
	}
	for _, s := range all {
		if r, err := iso.Locate(s.dir, name); err == nil {
			return s, r, nil
		}
	}
	return store{}, nil, notFound(name)
}

// imageUsers maps each file any VM depends on (directly or as a backing file) to those VMs. It
// fails closed: an error means "unknown", never "unused".
func imageUsers(ctx context.Context, f *cmdutil.Factory) (map[string][]string, error) {
	c, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := f.Connect(c, true)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.DiskUsers(c, "")
}

// usersOf names the VMs in users (from imageUsers) that use the image at path. A file of a
// local store is looked up under its real name too: DiskUsers files each user under the real
// name of what it names as well, so a VM that names the image through a symlinked directory,
// or names the real file of a store reached through one, is seen. A remote host's path means
// nothing on this machine and is looked up as it is.
func usersOf(users map[string][]string, path string, local bool) []string {
	out := slices.Clone(users[path])
	if local {
		if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
			for _, u := range users[real] {
				if !slices.Contains(out, u) {
					out = append(out, u)
				}
			}
		}
	}
	if out == nil {
		return []string{}
	}
	return out
}

// describe is the JSON and table view of one stored image. Its users come from a best-effort
// scan: when that fails, a warning says USED-BY may be incomplete.
func describe(ctx context.Context, f *cmdutil.Factory, s store, r *iso.Record) model.Image {
	p := filepath.Join(s.dir, r.Name)
	users, err := imageUsers(ctx, f)
	if err != nil {
		f.Infof("%s: warning: used-by may be incomplete: %v", f.Prog, err)
	}
	return model.Image{ImageRecord: *r, Store: s.name, Path: p, UsedBy: usersOf(users, p, !remote(f))}
}

func imagePairs(im model.Image) [][2]string {
	verified := "yes (" + im.UpstreamDigest + ")"
	if !im.Verified {
		// import has no --insecure: without --sha256 it stores the file unverified all the same.
		verified = "NO: stored with --insecure"
		if strings.HasPrefix(im.SourceURL, "file:") {
			verified = "NO: imported without --sha256"
		}
	}
	return [][2]string{
		{"name", im.Name}, {"catalog entry", output.Dash(im.Catalog)}, {"store", im.Store}, {"path", im.Path},
		{"size", units.Human(uint64(im.SizeBytes))}, {"sha256", im.SHA256}, {"verified", verified},
		{"source", im.SourceURL}, {"final url", im.FinalURL}, {"signer", output.Dash(im.Signer)}, {"fetched", im.FetchedAt + " by " + im.FetchedBy},
		{"used by", output.Dash(strings.Join(im.UsedBy, ", "))},
	}
}

// listAll reads every record of both stores, with the VMs using each image. The in-use scan
// is best effort here (a listing still lists when libvirt is away); its error is returned
// beside the entries for callers that must not guess. Without withUsers no VM is looked at
// (verify needs only the records, and a weekly timer no libvirt).
func listAll(ctx context.Context, f *cmdutil.Factory, withUsers bool) (entries []model.Image, scanErr error, err error) {
	all, err := stores(f)
	if err != nil {
		return nil, nil, err
	}
	var users map[string][]string
	if withUsers {
		users, scanErr = imageUsers(ctx, f)
	}
	if remote(f) {
		entries, err := listRemote(ctx, f, all, users)
		return entries, scanErr, err
	}
	out := []model.Image{}
	for _, s := range all {
		for _, r := range iso.Records(s.dir) {
			p := filepath.Join(s.dir, r.Name)
			out = append(out, model.Image{ImageRecord: r, Store: s.name, Path: p, UsedBy: usersOf(users, p, true)})
		}
	}
	slices.SortFunc(out, func(a, b model.Image) int { return strings.Compare(a.Name, b.Name) })
	return out, scanErr, nil
}

// listRemote reads the records of a remote host's stores through libvirt.
func listRemote(ctx context.Context, f *cmdutil.Factory, all []store, users map[string][]string) ([]model.Image, error) {
	// Downloading a volume needs a read-write connection, even to read.
	conn, err := f.Connect(ctx, false)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	out := []model.Image{}
	for _, s := range all {
		pool, ok, err := conn.PoolServing(ctx, s.dir)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue // the pool is made on the first pull
		}
		files, err := conn.PoolFiles(ctx, pool)
		if err != nil {
			return nil, err
		}
		for p, r := range remoteEntries(ctx, conn, files) {
			out = append(out, model.Image{ImageRecord: r, Store: s.name, Path: p, UsedBy: usersOf(users, p, false)})
		}
	}
	slices.SortFunc(out, func(a, b model.Image) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// remoteRecordOf says which image the pool file p is the record of: NAME.record.json, or a
// record of old (NAME.json) when NAME has no new one and NAME.json is no stored image itself.
func remoteRecordOf(have map[string]bool, p string) (string, bool) {
	if image, ok := strings.CutSuffix(p, iso.RecordSuffix); ok {
		return image, have[image]
	}
	image, ok := strings.CutSuffix(p, ".json")
	if !ok || !have[image] || have[image+iso.RecordSuffix] || have[p+iso.RecordSuffix] || have[p+".json"] {
		return "", false
	}
	return image, true
}

// readRemoteRecord downloads a record and checks that it names its image. Records are small: a
// volume that is not stops being read at iso.MaxRecordBytes.
func readRemoteRecord(ctx context.Context, conn *virt.Conn, p, image string) (iso.Record, bool) {
	var buf cappedBuffer
	if err := conn.DownloadTo(ctx, p, &buf); err != nil {
		return iso.Record{}, false
	}
	var r iso.Record
	return r, json.Unmarshal(buf.b, &r) == nil && r.Name == path.Base(image)
}

// cappedBuffer collects at most iso.MaxRecordBytes and then fails the write.
type cappedBuffer struct{ b []byte }

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if len(c.b)+len(p) > iso.MaxRecordBytes {
		return 0, errs.New(errs.Failure, "larger than a record can be")
	}
	c.b = append(c.b, p...)
	return len(p), nil
}

// remoteEntries reads the records among a pool's files, by image path.
func remoteEntries(ctx context.Context, conn *virt.Conn, files []string) map[string]iso.Record {
	have := map[string]bool{}
	for _, p := range files {
		have[p] = true
	}
	out := map[string]iso.Record{}
	for _, p := range files {
		if image, ok := remoteRecordOf(have, p); ok {
			if r, ok := readRemoteRecord(ctx, conn, p, image); ok {
				out[image] = r
			}
		}
	}
	return out
}
