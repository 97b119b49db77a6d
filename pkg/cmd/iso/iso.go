// Package iso implements the isoctl tree: install media and cloud images you can trust.
package iso

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/fsutil"
	"github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/profile"
	"github.com/hyper-nixos/hvctl/pkg/progress"
	"github.com/hyper-nixos/hvctl/pkg/seed"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

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

// NewCmdISO builds the iso tree (isoctl).
func NewCmdISO(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "iso",
		Aliases: []string{"isoctl"},
		Short:   "Install media and cloud images: verified pulls, the store, seeds",
		Long: `Keep install ISOs and cloud images in a store you can trust. Every pull is verified
against a checksum (a SHA-256/512 given, or the publisher's checksum file) before it is
published; a failed or interrupted pull leaves nothing where vmctl would see it and resumes
when run again. Each image has a provenance record beside it. ISOs go to paths.isos, other
images to paths.images; both are libvirt storage pools (the pool already serving the
directory, else hvctl-isos and hvctl-images for the default paths, hvctl-isos-HASH for
others) so profiles can name them. Verification failures exit 8.`,
	}
	cmd.AddCommand(newPull(f), newList(f), newShow(f), newVerify(f), newRm(f), newSeed(f), newAttach(f), newEject(f), newImport(f), newInspect(f), newCatalog(f))
	return cmd
}

type store struct{ name, dir, pool string }

func stores(f *cmdutil.Factory) ([]store, error) {
	l, err := f.Config()
	if err != nil {
		return nil, err
	}
	return []store{
		{"isos", l.Config.Paths.ISOs, poolName("isos", l.Config.Paths.ISOs, "/var/lib/hvctl/isos")},
		{"images", l.Config.Paths.Images, poolName("images", l.Config.Paths.Images, "/var/lib/hvctl/images")},
	}, nil
}

func storeFor(f *cmdutil.Factory, name, want string) (store, error) {
	all, err := stores(f)
	if err != nil {
		return store{}, err
	}
	switch want {
	case "isos":
		return all[0], nil
	case "images":
		return all[1], nil
	case "":
		if strings.HasSuffix(strings.ToLower(name), ".iso") {
			return all[0], nil
		}
		return all[1], nil
	}
	return store{}, errs.New(errs.Usage, "--store must be isos or images")
}

// find locates a stored image by name in either store.
func find(f *cmdutil.Factory, name string) (store, *iso.Record, error) {
	all, err := stores(f)
	if err != nil {
		return store{}, nil, err
	}
	if remote(f) {
		ctx, cancel := context.WithTimeout(context.Background(), cmdutil.DefaultTimeout)
		defer cancel()
		entries, err := listRemote(ctx, f, all, nil)
		if err != nil {
			return store{}, nil, err
		}
		storeNamed := func(n string) (store, bool) {
			for _, s := range all {
				if s.name == n {
					return s, true
				}
			}
			return store{}, false
		}
		var recs []iso.Record
		storeOf := map[string]string{}
		for _, e := range entries {
			if e.Name == name {
				if s, ok := storeNamed(e.Store); ok {
					r := e.Record
					return s, &r, nil
				}
			}
			recs = append(recs, e.Record)
			storeOf[e.Name] = e.Store
		}
		if r, ok := iso.NewestOf(recs, name); ok {
			if s, ok := storeNamed(storeOf[r.Name]); ok {
				return s, &r, nil
			}
		}
		return store{}, nil, errs.New(errs.NotFound, "image %s not found", name).WithHint("see the store with: isoctl list")
	}
	// A file name in either store first, then the newest image pulled as that catalogue entry.
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
	return store{}, nil, errs.New(errs.NotFound, "image %s not found", name).WithHint("see the store with: isoctl list")
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

func newPull(f *cmdutil.Factory) *cobra.Command {
	var o struct {
		name, sha, checksumURL, storeName string
		signatureURL, keyURL              string
		keys                              []string
		insecure, viaLibvirt, dryRun      bool
		maxSize                           string
	}
	cmd := &cobra.Command{
		Use:   "pull URL|NAME",
		Short: "Download an image, verify it, and publish it in the store",
		Long: `Download URL (or the catalogue entry NAME: see isoctl catalog) into the store. The file is hashed while it downloads and is published only
when its digest matches --sha256 (a SHA-256 or SHA-512 in hex, optionally prefixed sha256: or
sha512:) or the entry for its exact file name in --checksum-url (GNU or BSD format). A
mismatch is exit 8 and stores nothing. A signed checksum file (--signature-url, or a
clearsigned file such as Fedora's CHECKSUM) is checked with the key from --key-url, which
must have a fingerprint pinned with --key: a bad signature or an unpinned key is exit 8, and
of a clearsigned file only the signed text is read. An interrupted pull resumes when run again (HTTP
Range, restarting from zero when the server cannot). --insecure stores an unverified image;
its record says so for good. A catalogue entry whose file is a glob is stored under the
newest matching name in its verified checksum list (debian-netinst → debian-13.2.0-amd64-
netinst.iso, say); --name overrides.

On a remote host (or a store this user may not write, or with --via-libvirt) the image is
verified in a local staging directory and then uploaded into the store's pool through a
libvirt stream, with its record.`,
		Example:     "  isoctl pull https://cdimage.debian.org/…/debian-12.8.0-amd64-netinst.iso --checksum-url https://cdimage.debian.org/…/SHA512SUMS",
		Args:        cmdutil.ExactArgs(1, "one URL or catalogue name"),
		Annotations: map[string]string{cmdutil.AnnTimeout: "6h"},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			format, err := f.Format()
			if err != nil {
				return err
			}
			if o.sha != "" && o.checksumURL != "" {
				return errs.New(errs.Usage, "give --sha256 or --checksum-url, not both")
			}
			src := iso.Source{URL: args[0]}
			maxBytes := int64(iso.DefaultMaxBytes)
			var entry string
			if !strings.Contains(args[0], "://") {
				entry = args[0]
				// A catalogue name: its URLs and pinned keys, unless flags say otherwise.
				e, err := catalogEntry(f, args[0])
				if err != nil {
					return err
				}
				src = e.Spec()
				if maxBytes, err = e.MaxBytes(); err != nil {
					return errs.New(errs.Usage, "%v", err)
				}
				if o.sha != "" || o.checksumURL != "" {
					src.ChecksumURL = ""
				}
			}
			if o.checksumURL != "" {
				src.ChecksumURL = o.checksumURL
			}
			if o.signatureURL != "" {
				src.SignatureURL = o.signatureURL
			}
			if o.keyURL != "" {
				src.KeyURL = o.keyURL
			}
			if len(o.keys) > 0 {
				src.Keys = o.keys
			}
			if o.maxSize != "" {
				n, err := units.ParseSize(o.maxSize)
				if err != nil || n == 0 || n > 1<<62 {
					return errs.New(errs.Usage, "--max-size %q is not a size such as 8GiB", o.maxSize)
				}
				maxBytes = int64(n)
			}
			po := iso.PullOptions{URL: src.URL, Name: o.name, Catalog: entry, Insecure: o.insecure, Now: f.Now, MaxBytes: maxBytes}
			switch {
			case o.sha != "":
				d, err := iso.ParseDigest(o.sha)
				if err != nil {
					return errs.New(errs.Usage, "--sha256: %v", err)
				}
				if strings.Contains(src.URL, "{file}") {
					if src.File == "" || strings.ContainsAny(src.File, "*?[") {
						return errs.New(errs.Usage, "%s takes its file name from the checksum list; --sha256 cannot name it", args[0]).
							WithHint("pull it by URL with --sha256")
					}
					po.URL = strings.ReplaceAll(src.URL, "{file}", src.File)
				}
				po.Expect = &d
			case src.ChecksumURL != "":
				if src.SignatureURL != "" && len(src.Keys) == 0 {
					return errs.New(errs.Usage, "--signature-url needs the pinned --key fingerprint of the signer")
				}
				r, err := iso.Resolve(ctx, src, iso.HTTPFetcher(nil))
				if err != nil {
					return errs.Wrap(err, "pull %s", args[0])
				}
				po.URL, po.Expect, po.ChecksumURL, po.Signer, po.Signature = r.URL, &r.Digest, r.ChecksumURL, r.Signer, r.SignatureURL
				if r.ImageSignature != "" {
					// Fetched before the download, checked over the file before it is published.
					sig, err := iso.HTTPFetcher(nil)(ctx, r.ImageSignature, "image signature")
					if err != nil {
						return errs.Wrap(err, "pull %s", args[0])
					}
					po.Signature = r.ImageSignature
					po.VerifyFile = func(p string) (string, error) {
						fh, err := os.Open(p)
						if err != nil {
							return "", err
						}
						defer fh.Close()
						return iso.VerifyDetachedReader(fh, sig, r.ImageKeys, r.Pins)
					}
				}
				if po.Name == "" {
					po.Name = r.Name
				}
			case src.SignatureURL != "" || src.KeyURL != "":
				return errs.New(errs.Usage, "a signature checks a checksum file: give --checksum-url too")
			}
			if po.Name == "" {
				if po.Name, err = iso.NameFromURL(po.URL); err != nil {
					return err
				}
			}
			name := po.Name
			s, err := storeFor(f, name, o.storeName)
			if err != nil {
				return err
			}
			if o.dryRun {
				plan := pullPlan{Name: name, Store: s.name, URL: po.URL, ChecksumURL: po.ChecksumURL, Signature: po.Signature,
					Signer: po.Signer, Catalog: entry, Insecure: po.Expect == nil}
				if po.Expect != nil {
					plan.Digest = po.Expect.String()
				}
				return output.Object(f.IO.Out, format, plan, [][2]string{
					{"name", plan.Name}, {"store", plan.Store}, {"url", plan.URL}, {"digest", dash(plan.Digest)},
					{"checksum file", dash(plan.ChecksumURL)}, {"signature", dash(plan.Signature)}, {"signer", dash(plan.Signer)},
				})
			}
			po.Dir = s.dir
			uri, err := f.URI()
			if err != nil {
				return err
			}
			// A remote host's store, or one this user may not write, is filled through libvirt:
			// verify in a local staging directory (kept, so an interrupted pull resumes), then
			// upload image and record as volumes.
			via := o.viaLibvirt || remote(f) || virt.IsRemote(uri) || !writable(s.dir)
			if via {
				if err := notInPool(ctx, f, s, name); err != nil {
					return errs.Wrap(err, "pull %s", name)
				}
				cache, err := os.UserCacheDir()
				if err != nil {
					cache = os.TempDir()
				}
				po.Dir = filepath.Join(cache, "hvctl", "stage")
			}
			bar := progress.NewBytes(f.IO, name)
			po.Progress = bar.Set
			rec, fresh, err := iso.Pull(ctx, po)
			bar.Finish()
			if err != nil {
				return errs.Wrap(err, "pull %s", name)
			}
			if via {
				if err := uploadStaged(ctx, f, s, po.Dir, name); err != nil {
					return errs.Wrap(err, "pull %s", name)
				}
			} else if fresh {
				refreshPool(ctx, f, s)
			}
			return output.Object(f.IO.Out, format, rec, recordPairs(rec, s))
		},
	}
	cmd.Flags().StringVar(&o.name, "name", "", "store the image under `NAME` (default: the URL's file name)")
	cmd.Flags().StringVar(&o.sha, "sha256", "", "expected digest: SHA-256 or SHA-512 `HEX`")
	cmd.Flags().StringVar(&o.checksumURL, "checksum-url", "", "`URL` of the publisher's checksum file")
	cmd.Flags().StringVar(&o.signatureURL, "signature-url", "", "`URL` of the detached OpenPGP signature of the checksum file")
	cmd.Flags().StringVar(&o.keyURL, "key-url", "", "`URL` (or file) of the publisher's public key")
	cmd.Flags().StringArrayVar(&o.keys, "key", nil, "pinned `FINGERPRINT` of a key allowed to sign (repeatable)")
	cmd.Flags().BoolVar(&o.insecure, "insecure", false, "store without verification (recorded as such)")
	cmdutil.StringEnumFlag(cmd, &o.storeName, "store", "", "", []string{"isos", "images"}, "the store (when not given: by extension)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "resolve and verify the checksum list (and its signature), print what would be pulled, download nothing")
	cmd.Flags().StringVar(&o.maxSize, "max-size", "", "refuse an image larger than `SIZE` (default: the catalogue entry's max_size, else 64GiB)")
	cmd.Flags().BoolVar(&o.viaLibvirt, "via-libvirt", false, "upload into the store's pool through libvirt (automatic for remote hosts and unwritable stores)")
	f.AddOutputFlags(cmd)
	return cmd
}

// writable says whether this process may write dir (creating it if need be).
func writable(dir string) bool {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return false
	}
	return unix.Access(dir, unix.W_OK) == nil
}

// notInPool refuses early, before any download, an image the remote store already has.
func notInPool(ctx context.Context, f *cmdutil.Factory, s store, name string) error {
	conn, err := f.Connect(ctx, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	pool, err := storePool(ctx, conn, s)
	if err != nil {
		return err
	}
	if exists, err := conn.VolumeExists(ctx, pool, name); err != nil {
		return err
	} else if exists {
		return errs.New(errs.Conflict, "%s is already in pool %s", name, pool).WithHint("remove it first to pull it again")
	}
	return nil
}

// uploadStaged moves a verified, staged image and its record into the store's pool.
func uploadStaged(ctx context.Context, f *cmdutil.Factory, s store, stage, name string) error {
	conn, err := f.Connect(ctx, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	pool, err := storePool(ctx, conn, s)
	if err != nil {
		return err
	}
	bar := progress.NewBytes(f.IO, "upload "+name)
	err = conn.UploadFile(ctx, pool, name, filepath.Join(stage, name), bar.Set)
	bar.Finish()
	if err != nil {
		return err
	}
	if err := conn.UploadFile(ctx, pool, name+iso.RecordSuffix, iso.RecordPath(stage, name), nil); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(stage, name))
	_ = os.Remove(iso.RecordPath(stage, name))
	return nil
}

// pullPlan is what `isoctl pull --dry-run` found: the image the publisher's verified checksum
// list names today, without downloading it.
type pullPlan struct {
	Name        string `json:"name"`
	Store       string `json:"store"`
	URL         string `json:"url"`
	Digest      string `json:"digest"` // algo:hex; empty when --insecure
	ChecksumURL string `json:"checksum_url"`
	Signature   string `json:"signature_url"`
	Signer      string `json:"signer"`
	Catalog     string `json:"catalog,omitempty"`
	Insecure    bool   `json:"insecure"`
}

func recordPairs(r *iso.Record, s store) [][2]string {
	verified := "yes (" + r.UpstreamDigest + ")"
	if !r.Verified {
		verified = "NO: stored with --insecure"
	}
	return [][2]string{
		{"name", r.Name}, {"catalog entry", dash(r.Catalog)}, {"store", s.name}, {"path", filepath.Join(s.dir, r.Name)},
		{"size", units.Human(uint64(r.SizeBytes))}, {"sha256", r.SHA256}, {"verified", verified},
		{"source", r.SourceURL}, {"final url", r.FinalURL}, {"signer", dash(r.Signer)}, {"fetched", r.FetchedAt + " by " + r.FetchedBy},
	}
}

// Entry is one row of `isoctl list`.
type Entry struct {
	iso.Record
	Store  string   `json:"store"`
	Path   string   `json:"path"`
	UsedBy []string `json:"used_by"`
}

// listAll reads every record of both stores, with the VMs using each image. The in-use scan
// is best effort here (a listing still lists when libvirt is away); its error is returned
// beside the entries for callers that must not guess, such as rm.
func listAll(ctx context.Context, f *cmdutil.Factory) ([]Entry, error, error) {
	all, err := stores(f)
	if err != nil {
		return nil, nil, err
	}
	users, scanErr := imageUsers(ctx, f)
	if users == nil {
		users = map[string][]string{}
	}
	if remote(f) {
		entries, err := listRemote(ctx, f, all, users)
		return entries, scanErr, err
	}
	out := []Entry{}
	for _, s := range all {
		for _, r := range iso.Records(s.dir) {
			p := filepath.Join(s.dir, r.Name)
			out = append(out, Entry{Record: r, Store: s.name, Path: p, UsedBy: usersOf(users, p)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, scanErr, nil
}

// imageUsers maps each file any VM depends on (directly or as a backing file) to those VMs.
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

func usersOf(users map[string][]string, path string) []string {
	if u := users[path]; len(u) > 0 {
		return slices.Clone(u)
	}
	return []string{}
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

// listRemote reads the records of a remote host's stores through libvirt: each NAME.json
// volume is downloaded (they are small) and parsed.
func listRemote(ctx context.Context, f *cmdutil.Factory, all []store, users map[string][]string) ([]Entry, error) {
	// Downloading a volume needs a read-write connection, even to read.
	conn, err := f.Connect(ctx, false)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	out := []Entry{}
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
			out = append(out, Entry{Record: r, Store: s.name, Path: p, UsedBy: usersOf(users, p)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
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

// readRemoteRecord downloads a record (they are small) and checks that it names its image.
func readRemoteRecord(ctx context.Context, conn *virt.Conn, p, image string) (iso.Record, bool) {
	data, err := conn.Download(ctx, p)
	if err != nil {
		return iso.Record{}, false
	}
	var r iso.Record
	return r, json.Unmarshal(data, &r) == nil && r.Name == path.Base(image)
}

// remoteEntries reads the records among a pool's files.
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

// verifyRemote hashes an image on a remote host as libvirt streams it, never holding it whole.
func verifyRemote(ctx context.Context, f *cmdutil.Factory, e Entry) error {
	conn, err := f.Connect(ctx, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	h := sha256.New()
	if err := conn.DownloadTo(ctx, e.Path, h); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != e.SHA256 {
		return errs.New(errs.Verify, "%s: sha256 is %s, the record says %s: the file changed at rest", e.Name, got, e.SHA256)
	}
	return nil
}

func newList(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List stored images with size, verification, age and the VMs using them",
		Args:    cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := f.Format()
			if err != nil {
				return err
			}
			entries, scanErr, err := listAll(cmd.Context(), f)
			if err != nil {
				return err
			}
			if scanErr != nil {
				f.Infof("%s: warning: USED-BY may be incomplete: %v", f.Prog, scanErr)
			}
			now := f.Now()
			cols := []output.Column[Entry]{
				{Header: "name", Value: func(e Entry) string { return e.Name }},
				{Header: "store", Value: func(e Entry) string { return e.Store }},
				{Header: "size", Value: func(e Entry) string { return units.Human(uint64(e.SizeBytes)) }},
				{Header: "verified", Value: func(e Entry) string {
					if e.Verified {
						return "yes"
					}
					return "NO"
				}},
				{Header: "age", Value: func(e Entry) string {
					t, err := time.Parse(time.RFC3339, e.FetchedAt)
					if err != nil {
						return "-"
					}
					return fmt.Sprintf("%dd", int(now.Sub(t).Hours()/24))
				}},
				{Header: "used-by", Value: func(e Entry) string { return dash(strings.Join(e.UsedBy, ",")) }},
				{Header: "signer", Wide: true, Value: func(e Entry) string { return dash(e.Signer) }},
				{Header: "entry", Wide: true, Value: func(e Entry) string { return dash(e.Catalog) }},
				{Header: "sha256", Wide: true, Value: func(e Entry) string { return e.SHA256 }},
				{Header: "source", Wide: true, Value: func(e Entry) string { return e.SourceURL }},
			}
			return output.List(f.IO.Out, format, entries, cols, func(e Entry) string { return e.Name })
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newShow(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show an image's provenance record",
		Args:  cmdutil.ExactArgs(1, "one image name"),
		RunE: func(_ *cobra.Command, args []string) error {
			format, err := f.Format()
			if err != nil {
				return err
			}
			s, r, err := find(f, args[0])
			if err != nil {
				return err
			}
			return output.Object(f.IO.Out, format, r, recordPairs(r, s))
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func newVerify(f *cmdutil.Factory) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:         "verify [NAME...|--all]",
		Short:       "Re-hash stored images against their records (exit 8 on any mismatch)",
		Long:        "Re-hash each image at rest and compare with its record: for a weekly timer. Exit 8 when\nany image changed.",
		Annotations: map[string]string{cmdutil.AnnTimeout: "6h"},
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := f.Format()
			if err != nil {
				return err
			}
			if all == (len(args) > 0) {
				return errs.New(errs.Usage, "name images or give --all")
			}
			if all {
				entries, _, err := listAll(cmd.Context(), f)
				if err != nil {
					return err
				}
				for _, e := range entries {
					args = append(args, e.Name)
				}
			}
			type result struct {
				Name   string `json:"name"`
				OK     bool   `json:"ok"`
				SHA256 string `json:"sha256"`
				Error  string `json:"error"`
			}
			var rows []result
			failed := 0
			// Exit 8 is for tampering only: a missing image or a broken store has its own code.
			kind := errs.NotFound
			for _, name := range args {
				s, rec, err := find(f, name)
				if err == nil {
					if remote(f) {
						err = verifyRemote(cmd.Context(), f, Entry{Record: *rec, Path: filepath.Join(s.dir, rec.Name)})
					} else {
						_, err = iso.Verify(s.dir, rec.Name)
					}
					if err == nil {
						rows = append(rows, result{Name: rec.Name, OK: true, SHA256: rec.SHA256})
						continue
					}
				}
				if failed == 0 || errs.KindOf(err) == errs.Verify {
					kind = errs.KindOf(err)
				}
				failed++
				rows = append(rows, result{Name: name, Error: err.Error()})
			}
			cols := []output.Column[result]{
				{Header: "name", Value: func(r result) string { return r.Name }},
				{Header: "result", Value: func(r result) string {
					if r.OK {
						return "ok"
					}
					return "FAILED: " + r.Error
				}},
			}
			if err := output.List(f.IO.Out, format, rows, cols, func(r result) string { return r.Name }); err != nil {
				return err
			}
			if failed > 0 {
				return errs.New(kind, "%d of %d image(s) failed verification", failed, len(rows))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "verify every stored image")
	f.AddOutputFlags(cmd)
	return cmd
}

func newRm(f *cmdutil.Factory) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove an image and its record (refused while a VM uses it)",
		Args:  cmdutil.ExactArgs(1, "one image name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, r, err := find(f, args[0])
			if err != nil {
				return err
			}
			if r.Name != args[0] {
				// A catalogue entry names a release only loosely: deleting takes the file's name.
				return errs.New(errs.Usage, "%s is a catalogue entry; give the image's file name (%s) to remove it", args[0], r.Name)
			}
			path := filepath.Join(s.dir, args[0])
			// Fails closed: when the VMs' disks cannot all be read, nothing counts as unused.
			users, err := imageUsers(cmd.Context(), f)
			if err != nil {
				if !force {
					return errs.Wrap(err, "rm %s: cannot tell whether a VM uses it", args[0]).(*errs.Error).
						WithHint("fix the error above, or --force to remove it unchecked")
				}
				f.Infof("%s: warning: removing %s unchecked: %v", f.Prog, args[0], err)
			}
			if u := users[path]; len(u) > 0 {
				if !force {
					return errs.New(errs.Conflict, "image %s is used by %s", args[0], strings.Join(u, ", ")).WithHint("detach it first, or --force")
				}
				f.Infof("%s: warning: removing %s, which %s uses", f.Prog, args[0], strings.Join(u, ", "))
			}
			if remote(f) {
				conn, err := f.Connect(cmd.Context(), false)
				if err != nil {
					return err
				}
				defer conn.Close()
				var files []string
				if pool, ok, err := conn.PoolServing(cmd.Context(), s.dir); err == nil && ok {
					files, _ = conn.PoolFiles(cmd.Context(), pool)
				}
				have := map[string]bool{}
				for _, p := range files {
					have[p] = true
				}
				if err := conn.DeleteVolume(cmd.Context(), path); err != nil {
					return err
				}
				_ = conn.DeleteVolume(cmd.Context(), iso.RecordPath(s.dir, args[0]))
				if _, ok := remoteRecordOf(have, path+".json"); ok {
					if _, ok := readRemoteRecord(cmd.Context(), conn, path+".json", path); ok {
						_ = conn.DeleteVolume(cmd.Context(), path+".json") // its record of old
					}
				}
			} else {
				if err := os.Remove(path); err != nil {
					return err
				}
				if err := iso.RemoveRecord(s.dir, args[0]); err != nil {
					f.Infof("%s: warning: %s removed, its record stays: %v", f.Prog, args[0], err)
				}
				refreshPool(cmd.Context(), f, s)
			}
			f.Infof("%s: removed %s", f.Prog, path)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "remove even while a VM uses it")
	return cmd
}

func newSeed(f *cmdutil.Factory) *cobra.Command {
	var o struct {
		hostname, user, sshKey, userData, networkConfig string
	}
	cmd := &cobra.Command{
		Use:     "seed OUT.iso",
		Short:   "Write a cloud-init NoCloud seed ISO (mode 0600)",
		Long:    "Write a NoCloud seed (label cidata) with the same builder vmctl create uses.",
		Example: "  isoctl seed web01-seed.iso --hostname web01 --user ops --ssh-key ~/.ssh/id_ed25519.pub",
		Args:    cmdutil.ExactArgs(1, "the output file"),
		RunE: func(_ *cobra.Command, args []string) error {
			if o.hostname == "" {
				return errs.New(errs.Usage, "--hostname is required")
			}
			c := &profile.Cloud{Hostname: o.hostname, User: o.user, UserData: o.userData, NetworkConfig: o.networkConfig}
			if o.sshKey != "" {
				b, err := os.ReadFile(o.sshKey)
				if err != nil {
					return errs.New(errs.NotFound, "--ssh-key: %v", err)
				}
				c.SSHKeys = []string{strings.TrimSpace(string(b))}
			}
			s, err := seed.FromProfile(&profile.Profile{Name: o.hostname, CloudInit: c}, "iid-"+o.hostname+"-"+f.Now().UTC().Format("20060102150405"))
			if err != nil {
				return errs.New(errs.Usage, "%v", err)
			}
			data, err := s.ISO()
			if err != nil {
				return err
			}
			return fsutil.WriteAtomic(args[0], data, 0o600)
		},
	}
	cmd.Flags().StringVar(&o.hostname, "hostname", "", "guest hostname")
	cmd.Flags().StringVar(&o.user, "user", "", "user to create")
	cmd.Flags().StringVar(&o.sshKey, "ssh-key", "", "public key `FILE` for the user")
	cmd.Flags().StringVar(&o.userData, "user-data", "", "user-data `FILE` instead of the generated cloud-config")
	cmd.Flags().StringVar(&o.networkConfig, "network-config", "", "network-config `FILE`")
	return cmd
}

func changeMedia(ctx context.Context, f *cmdutil.Factory, vm, path string) (string, error) {
	if err := cmdutil.ValidateName("VM", vm); err != nil {
		return "", err
	}
	conn, err := f.Connect(ctx, false)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	d, err := conn.Domain(ctx, vm)
	if err != nil {
		return "", err
	}
	defer d.Free()
	return d.ChangeMedia(ctx, path, []string{domainxml.SeedVolume(vm)})
}

func newAttach(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "attach VM NAME",
		Short: "Put a stored ISO into a VM's CD-ROM drive (live when it runs)",
		Long: `Insert the stored, verified ISO NAME into the VM's CD-ROM drive. A running VM sees the new
medium at once and keeps it after a restart; a stopped one gets it in its definition.
Unverified (--insecure) images are attached too, with a warning.`,
		Args: cmdutil.ExactArgs(2, "a VM and an image name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, r, err := find(f, args[1])
			if err != nil {
				return err
			}
			if !r.Verified {
				f.Infof("%s: warning: %s was stored without verification", f.Prog, r.Name)
			}
			dev, err := changeMedia(cmd.Context(), f, args[0], filepath.Join(s.dir, r.Name))
			if err != nil {
				return errs.Wrap(err, "attach %s", args[0])
			}
			f.Infof("%s: %s: %s now holds %s", f.Prog, args[0], dev, r.Name)
			return nil
		},
	}
}

func newEject(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "eject VM",
		Short: "Empty a VM's CD-ROM drive",
		Args:  cmdutil.ExactArgs(1, "a VM"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dev, err := changeMedia(cmd.Context(), f, args[0], "")
			if err != nil {
				return errs.Wrap(err, "eject %s", args[0])
			}
			f.Infof("%s: %s: %s is empty", f.Prog, args[0], dev)
			return nil
		},
	}
}

func newImport(f *cmdutil.Factory) *cobra.Command {
	var name, sha, storeName string
	var legacy bool
	cmd := &cobra.Command{
		Use:   "import FILE | import --legacy DIR",
		Short: "Copy a local image into the store, or take over a Hyper-NixOS ISO directory",
		Long: `Copy FILE into the store, hashing it on the way; with --sha256 it is verified (exit 8 on a
mismatch, nothing stored), without it the record marks it unverified.

--legacy DIR imports the ISOs of a Hyper-NixOS ISO directory: each is hashed again and
compared with its .sha256 sidecar; the old .verified markers are ignored (they were empty
files bound to nothing). Files that fail are listed and not imported (exit 8).`,
		Example:     "  isoctl import ~/Downloads/alpine-virt-3.20.iso --sha256 …\n  isoctl import --legacy /var/lib/hypervisor/isos",
		Args:        cmdutil.ExactArgs(1, "a file or, with --legacy, a directory"),
		Annotations: map[string]string{cmdutil.AnnTimeout: "6h"},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			format, err := f.Format()
			if err != nil {
				return err
			}
			if legacy {
				s, err := storeFor(f, ".iso", "isos")
				if err != nil {
					return err
				}
				res, err := iso.ImportLegacy(ctx, args[0], s.dir, f.Now())
				if err != nil {
					return err
				}
				type row struct {
					File   string `json:"file"`
					OK     bool   `json:"ok"`
					SHA256 string `json:"sha256"`
					Error  string `json:"error"`
				}
				rows := []row{}
				failed := 0
				for _, r := range res {
					if r.Err != nil {
						failed++
						rows = append(rows, row{File: r.File, Error: r.Err.Error()})
						continue
					}
					rows = append(rows, row{File: r.File, OK: true, SHA256: r.Record.SHA256})
				}
				refreshPool(ctx, f, s)
				cols := []output.Column[row]{
					{Header: "file", Value: func(r row) string { return r.File }},
					{Header: "result", Value: func(r row) string {
						if r.OK {
							return "imported, verified"
						}
						return "NOT imported: " + r.Error
					}},
				}
				if err := output.List(f.IO.Out, format, rows, cols, func(r row) string { return r.File }); err != nil {
					return err
				}
				if failed > 0 {
					return errs.New(errs.Verify, "%d of %d file(s) not imported", failed, len(rows))
				}
				return nil
			}
			var expect *iso.Digest
			if sha != "" {
				d, err := iso.ParseDigest(sha)
				if err != nil {
					return errs.New(errs.Usage, "--sha256: %v", err)
				}
				expect = &d
			}
			n := name
			if n == "" {
				n = filepath.Base(args[0])
			}
			s, err := storeFor(f, n, storeName)
			if err != nil {
				return err
			}
			rec, err := iso.ImportFile(ctx, args[0], s.dir, n, expect, f.Now())
			if err != nil {
				return errs.Wrap(err, "import %s", args[0])
			}
			refreshPool(ctx, f, s)
			return output.Object(f.IO.Out, format, rec, recordPairs(rec, s))
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "store under `NAME` (default: the file's name)")
	cmd.Flags().StringVar(&sha, "sha256", "", "expected SHA-256 or SHA-512 `HEX`")
	cmdutil.StringEnumFlag(cmd, &storeName, "store", "", "", []string{"isos", "images"}, "the store (when not given: by extension)")
	cmd.Flags().BoolVar(&legacy, "legacy", false, "import a Hyper-NixOS ISO directory")
	f.AddOutputFlags(cmd)
	return cmd
}

func newInspect(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect FILE|NAME",
		Short: "Tell what an image is: format, volume id, bootable or not, size, likely OS",
		Args:  cmdutil.ExactArgs(1, "a file or a stored image"),
		RunE: func(_ *cobra.Command, args []string) error {
			format, err := f.Format()
			if err != nil {
				return err
			}
			path := args[0]
			if _, err := os.Stat(path); err != nil {
				s, r, ferr := find(f, args[0])
				if ferr != nil {
					return errs.New(errs.NotFound, "inspect: %s is neither a file nor a stored image", args[0])
				}
				path = filepath.Join(s.dir, r.Name)
			}
			in, err := iso.Inspect(path)
			if err != nil {
				return errs.New(errs.Failure, "inspect: %v", err)
			}
			return output.Object(f.IO.Out, format, in, [][2]string{
				{"file", in.File}, {"format", in.Format}, {"size", units.Human(uint64(in.SizeBytes))},
				{"volume id", dash(in.VolumeID)}, {"bootable", fmt.Sprint(in.Bootable)}, {"hybrid", fmt.Sprint(in.Hybrid)}, {"os", dash(in.OS)},
			})
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func catalog(f *cmdutil.Factory) ([]iso.Entry, error) {
	l, err := f.Config()
	if err != nil {
		return nil, err
	}
	var extra []iso.Entry
	for _, i := range l.Config.Images {
		extra = append(extra, iso.Entry{Name: i.Name, Description: i.Description, Version: i.Version, Arch: i.Arch, URL: i.URL, File: i.File,
			ChecksumURL: i.ChecksumURL, ChecksumFormat: i.ChecksumFormat, SignatureKind: i.SignatureKind, SignatureURL: i.SignatureURL, KeyURL: i.KeyURL, Keys: i.Keys,
			MaxSize: i.MaxSize})
	}
	c, err := iso.Catalog(extra)
	if err != nil {
		return nil, errs.New(errs.Usage, "%v", err)
	}
	return c, nil
}

func catalogEntry(f *cmdutil.Factory, name string) (iso.Entry, error) {
	c, err := catalog(f)
	if err != nil {
		return iso.Entry{}, err
	}
	for _, e := range c {
		if e.Name == name {
			return e.Expand(), nil
		}
	}
	return iso.Entry{}, errs.New(errs.NotFound, "no catalogue entry %s", name).WithHint("see them with: isoctl catalog")
}

func newCatalog(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "List the images isoctl pull knows by name, with how each is verified",
		Long: `List the built-in catalogue and the configuration's [[images]] entries (which add to it or
replace entries of the same name). VERIFIED-BY says how a pull checks the image: signed
checksums (by a pinned key; --wide lists the fingerprints) or checksums over HTTPS only. An
entry's file may be a glob: the pull picks the newest matching name from the verified
checksum list, so entries follow the publisher's current release.`,
		Args: cmdutil.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			format, err := f.Format()
			if err != nil {
				return err
			}
			c, err := catalog(f)
			if err != nil {
				return err
			}
			for i := range c {
				src := c[i].Source
				c[i] = c[i].Expand()
				c[i].Source = src
			}
			cols := []output.Column[iso.Entry]{
				{Header: "name", Value: func(e iso.Entry) string { return e.Name }},
				{Header: "version", Value: func(e iso.Entry) string { return dash(e.Version) }},
				{Header: "arch", Value: func(e iso.Entry) string { return dash(e.Arch) }},
				{Header: "verified-by", Value: func(e iso.Entry) string {
					switch {
					case e.Signed() && len(e.Keys) > 0:
						return "signed checksums"
					case e.Signed():
						return "signed checksums (no key pinned)"
					case e.ChecksumURL != "":
						return "checksums (HTTPS only)"
					}
					return "-"
				}},
				{Header: "source", Value: func(e iso.Entry) string { return e.Source }},
				{Header: "description", Wide: true, Value: func(e iso.Entry) string { return e.Description }},
				{Header: "checks", Wide: true, Value: func(e iso.Entry) string {
					return strings.Join([]string{or(e.ChecksumFormat, "gnu|bsd"), or(e.SignatureKind, "unsigned")}, ",")
				}},
				{Header: "file", Wide: true, Value: func(e iso.Entry) string { return dash(e.File) }},
				{Header: "url", Wide: true, Value: func(e iso.Entry) string { return e.URL }},
				{Header: "keys", Wide: true, Value: func(e iso.Entry) string { return dash(strings.Join(e.Keys, ",")) }},
			}
			return output.List(f.IO.Out, format, c, cols, func(e iso.Entry) string { return e.Name })
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
