package isocmd

import (
	"cmp"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/progress"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// PullOptions of `isoctl pull`.
type PullOptions struct {
	F            *cmdutil.Factory
	Ref          string // a URL, or a catalogue entry's name
	Name         string // --name
	SHA          string // --sha256, checked to be a digest
	ChecksumURL  string
	SignatureURL string
	KeyURL       string
	Keys         []string
	Store        string // "" (by extension), isos or images
	MaxBytes     int64  // --max-size; 0: the catalogue entry's, else iso.DefaultMaxBytes
	Insecure     bool
	ViaLibvirt   bool
	DryRun       bool
}

// NewCmdPull builds `isoctl pull`.
func NewCmdPull(f *cmdutil.Factory, runF func(context.Context, *PullOptions) error) *cobra.Command {
	opts := &PullOptions{F: f}
	var maxSize string
	cmd := &cobra.Command{
		Use:   "pull URL|NAME",
		Short: "Download an image, verify it, and publish it in the store",
		Long: `Download URL (or the catalogue entry NAME: see isoctl catalog) into the store. The file is hashed while it downloads and is published only
when its digest matches --sha256 (a SHA-256 or SHA-512 in hex, optionally prefixed sha256: or
sha512:) or the entry for its exact file name in --checksum-url (GNU or BSD format). A
mismatch is exit 8 and stores nothing. A signed checksum file (--signature-url, or a
clearsigned file such as Fedora's CHECKSUM) is checked with the key from --key-url, which
must have a fingerprint pinned with --key: a bad signature or an unpinned key is exit 8, and
of a clearsigned file only the signed text is read. --insecure stores an unverified image;
its record says so for good. A catalogue entry whose file is a glob is stored under the
newest matching name in its verified checksum list (debian-netinst → debian-13.2.0-amd64-
netinst.iso, say); --name overrides.

Downloads are bounded: the bytes are asked for as published (no transparent gzip), an image
larger than --max-size (default: the catalogue entry's max_size, else 64GiB) or than the
free space of the store is refused before anything is written, and a body without a length
stops at the cap. An interrupted pull resumes when run again if the server gave a validator
(HTTP Range and If-Range, restarting from zero when the server cannot); a partial download
that cannot be resumed is removed. See the unfinished ones with: isoctl partials.

On a remote host (or a store this user may not write, or with --via-libvirt) the image is
verified in a local staging directory and then uploaded into the store's pool through a
libvirt stream, with its record.`,
		Example:           "  isoctl pull https://cdimage.debian.org/…/debian-12.8.0-amd64-netinst.iso --checksum-url https://cdimage.debian.org/…/SHA512SUMS\n  isoctl pull debian-netinst",
		Args:              cmdutil.ExactArgs(1, "one URL or catalogue name"),
		Annotations:       cmdutil.Journaled("image", map[string]string{cmdutil.AnnTimeout: "6h"}),
		ValidArgsFunction: completeCatalog(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			if opts.SHA != "" && opts.ChecksumURL != "" {
				return errs.New(errs.Usage, "give --sha256 or --checksum-url, not both")
			}
			if opts.SHA != "" {
				if _, err := iso.ParseDigest(opts.SHA); err != nil {
					return &errs.Error{Kind: errs.Usage, Msg: "--sha256: " + err.Error(), Err: err}
				}
			}
			if maxSize != "" {
				n, err := units.ParseSize(maxSize)
				if err != nil || n == 0 || n > 1<<62 {
					return errs.New(errs.Usage, "--max-size %q is not a size such as 8GiB", maxSize)
				}
				opts.MaxBytes = int64(n)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return hidePasswords(runPull(cmd.Context(), opts), opts.Ref, opts.ChecksumURL, opts.SignatureURL, opts.KeyURL)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Name, "name", "", "store the image under `NAME` (default: the URL's file name)")
	fl.StringVar(&opts.SHA, "sha256", "", "expected digest: SHA-256 or SHA-512 `HEX`")
	fl.StringVar(&opts.ChecksumURL, "checksum-url", "", "`URL` of the publisher's checksum file")
	fl.StringVar(&opts.SignatureURL, "signature-url", "", "`URL` of the detached OpenPGP signature of the checksum file")
	fl.StringVar(&opts.KeyURL, "key-url", "", "`URL` (or file) of the publisher's public key")
	fl.StringArrayVar(&opts.Keys, "key", nil, "pinned `FINGERPRINT` of a key allowed to sign (repeatable)")
	fl.BoolVar(&opts.Insecure, "insecure", false, "store without verification (recorded as such)")
	addStoreFlag(cmd, &opts.Store)
	fl.StringVar(&maxSize, "max-size", "", "refuse an image larger than `SIZE` (default: the catalogue entry's max_size, else 64GiB)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "resolve and verify the checksum list (and its signature), print what would be pulled, download nothing")
	fl.BoolVar(&opts.ViaLibvirt, "via-libvirt", false, "upload into the store's pool through libvirt (automatic for remote hosts and unwritable stores)")
	f.AddOutputFlags(cmd)
	return cmd
}

func runPull(ctx context.Context, o *PullOptions) error {
	f := o.F
	format, err := f.Format()
	if err != nil {
		return err
	}
	po, plan, err := planPull(ctx, o)
	if err != nil {
		return err
	}
	s, err := storeFor(f, po.Name, o.Store)
	if err != nil {
		return err
	}
	plan.Store = s.name
	if o.DryRun {
		return output.Object(f.IO.Out, format, plan, [][2]string{
			{"name", plan.Name}, {"store", plan.Store}, {"url", plan.URL}, {"digest", output.Dash(plan.Digest)},
			{"checksum file", output.Dash(plan.ChecksumURL)}, {"signature", output.Dash(plan.Signature)}, {"signer", output.Dash(plan.Signer)},
			{"size cap", units.Human(uint64(plan.MaxBytes))},
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
	via := o.ViaLibvirt || remote(f) || virt.IsRemote(uri) || !writable(s.dir)
	if via {
		if err := notInPool(ctx, f, s, po.Name); err != nil {
			return errs.Wrap(err, "pull %s", po.Name)
		}
		po.Dir = stagingDir(f)
	}
	bar := progress.NewBytes(f.IO, po.Name)
	po.Progress = bar.Set
	rec, fresh, err := iso.Pull(ctx, po)
	bar.Finish()
	if err != nil {
		return errs.Wrap(err, "pull %s", po.Name)
	}
	if via {
		if err := uploadStaged(ctx, f, s, po.Dir, po.Name); err != nil {
			return errs.Wrap(err, "pull %s", po.Name)
		}
	} else if fresh {
		refreshPool(ctx, f, s)
	}
	im := describe(ctx, f, s, rec)
	return output.Object(f.IO.Out, format, im, imagePairs(im))
}

// planPull turns the options into a download: the catalogue entry's URLs and keys unless flags
// say otherwise, the checksum list resolved and its signature checked.
func planPull(ctx context.Context, o *PullOptions) (iso.PullOptions, model.PullPlan, error) {
	src := iso.Source{URL: o.Ref}
	maxBytes := int64(iso.DefaultMaxBytes)
	var entry string
	if !strings.Contains(o.Ref, "://") {
		entry = o.Ref
		e, err := catalogEntry(o.F, o.Ref)
		if err != nil {
			return iso.PullOptions{}, model.PullPlan{}, err
		}
		src = e.Spec()
		if maxBytes, err = e.MaxBytes(); err != nil {
			return iso.PullOptions{}, model.PullPlan{}, &errs.Error{Kind: errs.Usage, Msg: err.Error(), Err: err}
		}
		if o.SHA != "" || o.ChecksumURL != "" {
			src.ChecksumURL = ""
		}
	}
	if o.MaxBytes > 0 {
		maxBytes = o.MaxBytes
	}
	src.ChecksumURL = cmp.Or(o.ChecksumURL, src.ChecksumURL)
	src.SignatureURL = cmp.Or(o.SignatureURL, src.SignatureURL)
	src.KeyURL = cmp.Or(o.KeyURL, src.KeyURL)
	if len(o.Keys) > 0 {
		src.Keys = o.Keys
	}
	po := iso.PullOptions{URL: src.URL, Name: o.Name, Catalog: entry, Insecure: o.Insecure, Now: o.F.Now, MaxBytes: maxBytes}
	switch {
	case o.SHA != "":
		d, err := iso.ParseDigest(o.SHA)
		if err != nil {
			return po, model.PullPlan{}, &errs.Error{Kind: errs.Usage, Msg: "--sha256: " + err.Error(), Err: err}
		}
		if strings.Contains(src.URL, "{file}") {
			if src.File == "" || strings.ContainsAny(src.File, "*?[") {
				return po, model.PullPlan{}, errs.New(errs.Usage, "%s takes its file name from the checksum list; --sha256 cannot name it", o.Ref).
					WithHint("pull it by URL with --sha256")
			}
			po.URL = strings.ReplaceAll(src.URL, "{file}", src.File)
		}
		po.Expect = &d
	case src.ChecksumURL != "":
		if src.SignatureURL != "" && len(src.Keys) == 0 {
			return po, model.PullPlan{}, errs.New(errs.Usage, "--signature-url needs the pinned --key fingerprint of the signer")
		}
		r, err := iso.Resolve(ctx, src, iso.HTTPFetcher(nil))
		if err != nil {
			return po, model.PullPlan{}, errs.Wrap(err, "pull %s", o.Ref)
		}
		po.URL, po.Expect, po.ChecksumURL, po.Signer, po.Signature = r.URL, &r.Digest, r.ChecksumURL, r.Signer, r.SignatureURL
		if r.ImageSignature != "" {
			// Fetched before the download, checked over the file before it is published.
			sig, err := iso.HTTPFetcher(nil)(ctx, r.ImageSignature, "image signature")
			if err != nil {
				return po, model.PullPlan{}, errs.Wrap(err, "pull %s", o.Ref)
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
		return po, model.PullPlan{}, errs.New(errs.Usage, "a signature checks a checksum file: give --checksum-url too")
	}
	if po.Name == "" {
		var err error
		if po.Name, err = iso.NameFromURL(po.URL); err != nil {
			return po, model.PullPlan{}, err
		}
	}
	plan := model.PullPlan{Name: po.Name, URL: po.URL, ChecksumURL: po.ChecksumURL, Signature: po.Signature,
		Signer: po.Signer, Catalog: entry, Insecure: po.Expect == nil, MaxBytes: maxBytes}
	if po.Expect != nil {
		plan.Digest = po.Expect.String()
	}
	return po, plan, nil
}

// stagingDir is where pulls through libvirt are verified before the upload: kept between
// runs, so an interrupted pull resumes. It is os.UserCacheDir's choice, read through the
// factory's environment.
func stagingDir(f *cmdutil.Factory) string {
	cache := f.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		if home := f.Getenv("HOME"); home != "" {
			cache = filepath.Join(home, ".cache")
		} else {
			cache = os.TempDir()
		}
	}
	return filepath.Join(cache, "hvctl", "stage")
}

// writable says whether this process may write dir (creating it, 0711, if need be).
func writable(dir string) bool {
	if err := os.MkdirAll(dir, 0o711); err != nil {
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
	// A record left without its image would make the upload fail after the download.
	if exists, err := conn.VolumeExists(ctx, pool, name+iso.RecordSuffix); err != nil {
		return err
	} else if exists {
		return errs.New(errs.Conflict, "pool %s holds a record %s%s without its image", pool, name, iso.RecordSuffix).
			WithHint("remove the stale record (virsh vol-delete --pool %s %s%s)", pool, name, iso.RecordSuffix)
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
		// An image without its record would be invisible to list and verify: take it back.
		undo, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := conn.DeleteVolume(undo, filepath.Join(s.dir, name)); derr != nil {
			f.Infof("%s: warning: %s stays in pool %s without its record: %v", f.Prog, name, pool, derr)
		}
		return err
	}
	_ = os.Remove(filepath.Join(stage, name))
	_ = os.Remove(iso.RecordPath(stage, name))
	return nil
}

// hidePasswords shows the URLs in err with their passwords as xxxxx, as the record keeps them:
// an error names the URL it failed on, and a pull's stderr may go to a log.
func hidePasswords(err error, urls ...string) error {
	var e *errs.Error
	if !errors.As(err, &e) {
		return err
	}
	for _, u := range urls {
		if r := iso.RedactURL(u); r != u {
			e.Msg, e.Hint = strings.ReplaceAll(e.Msg, u, r), strings.ReplaceAll(e.Hint, u, r)
		}
	}
	return err
}
