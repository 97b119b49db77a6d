package virt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// MigrateOptions say how a domain moves to another host. The source daemon drives the move
// (peer to peer): it reaches the target at PeerURI, and QEMU streams to DataURI when given.
type MigrateOptions struct {
	PeerURI        string // the target daemon as the source daemon reaches it
	DataURI        string // tcp://ADDRESS[:PORT] for the migration stream; "" lets libvirt choose
	Offline        bool   // move the definition only (the domain is shut off)
	CopyStorage    string // "", "all" (full copies) or "inc" (only what the target's backing lacks)
	Persistent     bool   // define the domain on the target
	UndefineSource bool   // undefine it on the source once it runs on the target
	Tunnelled      bool   // carry the stream over the libvirt connection
	Postcopy       bool   // switch to post-copy when pre-copy does not converge (see PostcopyDue)
	AutoConverge   bool   // slow the guest's vCPUs when it dirties memory faster than it moves
	Compressed     bool   // compress the stream
	Unsafe         bool   // let libvirt migrate disks it thinks unsafe (cache modes, local storage)
	BandwidthMiB   uint64 // cap in MiB/s; 0: no cap
	// PostcopyAfterPasses is how many full passes over memory pre-copy may make without
	// finishing before a Postcopy move switches; 0: DefaultPostcopyAfterPasses.
	PostcopyAfterPasses uint64
}

// DefaultPostcopyAfterPasses: an idle or lightly loaded guest finishes within its second pass,
// so a third pass means the pre-copy is chasing a guest that keeps up with the stream.
const DefaultPostcopyAfterPasses = 2

// MigrationProgress is one look at a running migration job.
type MigrationProgress struct {
	Elapsed             time.Duration
	DataTotal           uint64
	DataProcessed       uint64
	DataRemaining       uint64
	MemoryBps           uint64
	DirtyPagesPerSecond uint64
	PageSize            uint64
	Iteration           uint64        // the pass over memory pre-copy is on (1: the first)
	Downtime            time.Duration // expected while running, actual when done
	PostcopyRequests    uint64        // pages the target asked for after the switch to post-copy
	Postcopy            bool          // the move switched to post-copy
	PostcopyReason      string        // why it switched
}

func progressOf(ji *libvirt.DomainJobInfo) MigrationProgress {
	return MigrationProgress{
		Elapsed:   time.Duration(ji.TimeElapsed) * time.Millisecond,
		DataTotal: ji.DataTotal, DataProcessed: ji.DataProcessed, DataRemaining: ji.DataRemaining,
		MemoryBps: ji.MemBps, DirtyPagesPerSecond: ji.MemDirtyRate, PageSize: ji.MemPageSize,
		Iteration: ji.MemIteration, Downtime: time.Duration(ji.Downtime) * time.Millisecond,
		PostcopyRequests: ji.MemPostcopyReqs,
	}
}

// PostcopyDue says whether a move that may switch to post-copy should switch now, and why.
// Pre-copy copies memory in passes, each re-sending what the guest dirtied during the last;
// it does not converge when, after its first pass, the guest dirties memory at least as fast
// as the stream moves it, or when it has made afterPasses passes without finishing. Either
// way, waiting longer only costs time: post-copy runs the guest on the target at once and
// fetches the rest on demand.
func PostcopyDue(p MigrationProgress, afterPasses uint64) (bool, string) {
	if afterPasses == 0 {
		afterPasses = DefaultPostcopyAfterPasses
	}
	if p.Iteration < 2 { // the first pass sends everything; no rate says anything yet
		return false, ""
	}
	dirtyBps := p.DirtyPagesPerSecond * p.PageSize
	if p.MemoryBps > 0 && dirtyBps >= p.MemoryBps {
		return true, fmt.Sprintf("the guest dirties memory at %s/s, as fast as the stream moves it (%s/s), after pass %d",
			units.Human(dirtyBps), units.Human(p.MemoryBps), p.Iteration-1)
	}
	if p.Iteration > afterPasses {
		passes := "passes"
		if p.Iteration-1 == 1 {
			passes = "pass"
		}
		return true, fmt.Sprintf("pre-copy did not finish in %d %s over memory", p.Iteration-1, passes)
	}
	return false, ""
}

// ErrMigrationAborted says the job was aborted (interrupt or deadline) and the domain stayed
// on the source.
var ErrMigrationAborted = errors.New("migration aborted")

// Migrate moves the domain to another host and returns the job's last statistics. While it
// runs, progress is called about twice a second. When ctx ends first (Ctrl-C, --timeout) the job
// is aborted, so the domain keeps running on the source, and the error says so with ctx's kind;
// once a Postcopy move has switched (PostcopyDue) it can no longer be aborted and runs to its end.
func (d *Domain) Migrate(ctx context.Context, o MigrateOptions, progress func(MigrationProgress)) (MigrationProgress, error) {
	flags := libvirt.MIGRATE_PEER2PEER
	switch {
	case o.Offline:
		flags |= libvirt.MIGRATE_OFFLINE
	default:
		flags |= libvirt.MIGRATE_LIVE
	}
	if o.Persistent {
		flags |= libvirt.MIGRATE_PERSIST_DEST
	}
	if o.UndefineSource {
		flags |= libvirt.MIGRATE_UNDEFINE_SOURCE
	}
	switch o.CopyStorage {
	case "all":
		flags |= libvirt.MIGRATE_NON_SHARED_DISK
	case "inc":
		flags |= libvirt.MIGRATE_NON_SHARED_INC
	}
	if o.Tunnelled {
		flags |= libvirt.MIGRATE_TUNNELLED
	}
	if o.Postcopy {
		flags |= libvirt.MIGRATE_POSTCOPY
	}
	if o.AutoConverge {
		flags |= libvirt.MIGRATE_AUTO_CONVERGE
	}
	if o.Compressed {
		flags |= libvirt.MIGRATE_COMPRESSED
	}
	if o.Unsafe {
		flags |= libvirt.MIGRATE_UNSAFE
	}
	params := &libvirt.DomainMigrateParameters{}
	if o.DataURI != "" && !o.Tunnelled && !o.Offline {
		params.URISet, params.URI = true, o.DataURI
	}
	if o.BandwidthMiB > 0 {
		params.BandwidthSet, params.Bandwidth = true, o.BandwidthMiB
	}

	// The migration call returns only when the job ends; it runs outside ctx so that an
	// interrupt aborts the job (below) instead of abandoning a call that is still moving the guest.
	done := make(chan error, 1)
	go func() {
		done <- call0(context.WithoutCancel(ctx), d.c, "migrate "+d.Name, func() error {
			return d.d.MigrateToURI3(o.PeerURI, params, flags)
		})
	}()
	var last MigrationProgress
	var postcopy struct {
		done   bool // switched, or tried and failed: never asked twice
		reason string
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	interrupted := ctx.Done()
	for {
		select {
		case err := <-done:
			if err != nil {
				return last, err
			}
			// The completed job's statistics stay on the source for a while after it ends.
			if ji, err := d.d.GetJobStats(libvirt.DOMAIN_JOB_STATS_COMPLETED); err == nil {
				last = progressOf(ji)
			}
			last.Postcopy, last.PostcopyReason = postcopy.reason != "", postcopy.reason
			return last, nil
		case <-tick.C:
			ji, err := d.d.GetJobStats(0)
			if err == nil && ji.Type != libvirt.DOMAIN_JOB_NONE {
				last = progressOf(ji)
				last.Postcopy, last.PostcopyReason = postcopy.reason != "", postcopy.reason
				if o.Postcopy && !postcopy.done {
					if due, why := PostcopyDue(last, o.PostcopyAfterPasses); due {
						postcopy.done = true
						// An error here (the job ended meanwhile) leaves the pre-copy running:
						// the move still ends, only later.
						if err := call0(ctx, d.c, "switch "+d.Name+" to post-copy", func() error { return d.d.MigrateStartPostCopy(0) }); err == nil {
							postcopy.reason = why
							last.Postcopy, last.PostcopyReason = true, why
							// In post-copy the guest runs on the target and part of its memory
							// is still here: no abort can bring it back, so only the end counts.
							interrupted = nil
						}
					}
				}
				if progress != nil {
					progress(last)
				}
			}
		case <-interrupted:
			return last, d.abortMigration(ctx, done)
		}
	}
}

// abortMigration aborts the running job and waits (bounded) for the migration call to end, so
// that the caller reports the state the domain is really in.
func (d *Domain) abortMigration(ctx context.Context, done <-chan error) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	abortErr := call0(actx, d.c, "abort migration of "+d.Name, func() error { return d.d.AbortJob() })
	var migErr error
	select {
	case migErr = <-done:
	case <-actx.Done():
		return &errs.Error{Kind: errs.Timeout, Msg: fmt.Sprintf("migration of %s: aborted, but the job did not end within 60s; check where the domain runs", d.Name)}
	}
	kind := errs.Interrupted
	why := "interrupted"
	if ctx.Err() == context.DeadlineExceeded {
		kind, why = errs.Timeout, "deadline passed"
		if dl, ok := ctx.Value(timeoutKey{}).(time.Duration); ok {
			why = fmt.Sprintf("not done within %s", dl)
		}
	}
	if migErr == nil { // it finished just before the abort landed
		return nil
	}
	if abortErr != nil && !IsCode(abortErr, libvirt.ERR_OPERATION_INVALID) {
		return &errs.Error{Kind: kind, Msg: fmt.Sprintf("migration of %s %s; aborting it failed: %v", d.Name, why, abortErr), Err: ErrMigrationAborted}
	}
	return &errs.Error{Kind: kind, Msg: fmt.Sprintf("migration of %s %s: aborted; it still runs on the source", d.Name, why), Err: ErrMigrationAborted}
}

// PreflightProblem is one reason a migration cannot go ahead, with the exit code it deserves.
type PreflightProblem struct {
	Kind   errs.Kind
	Reason string
}

// MigrationPreflight checks, before anything moves, what would make a migration of def to dst
// fail or lose data: the name or UUID taken there, a CPU the target cannot run, networks and
// pools the domain names that the target lacks, disks the target cannot see without
// --copy-storage, and disk cache modes that make a live move unsafe. notes are things it could
// not check and says so.
func MigrationPreflight(ctx context.Context, dst *Conn, def *libvirtxml.Domain, live bool, o MigrateOptions) (problems []PreflightProblem, notes []string, err error) {
	bad := func(kind errs.Kind, format string, a ...any) {
		problems = append(problems, PreflightProblem{kind, fmt.Sprintf(format, a...)})
	}
	// Name and UUID.
	if d, err := dst.Domain(ctx, def.Name); err == nil {
		d.Free()
		bad(errs.Conflict, "a domain named %s already exists there", def.Name)
	} else if errs.KindOf(err) != errs.NotFound {
		return nil, nil, err
	}
	if def.UUID != "" {
		if other, err := call(ctx, dst, "look up domain by UUID", func() (string, error) {
			d, err := dst.c.LookupDomainByUUIDString(def.UUID)
			if err != nil {
				return "", err
			}
			defer d.Free()
			return d.GetName()
		}); err == nil && other != def.Name {
			bad(errs.Conflict, "its UUID %s belongs to domain %s there", def.UUID, other)
		}
	}

	// CPU: a custom or host-model CPU (expanded to a custom model in the live definition) must
	// be one the target's hypervisor can provide.
	if cpu := def.CPU; live && cpu != nil && cpu.Model != nil && cpu.Mode != "host-passthrough" && cpu.Mode != "maximum" {
		x, merr := cpu.Marshal()
		if merr == nil {
			var emulator, arch, machine string
			if def.Devices != nil {
				emulator = def.Devices.Emulator
			}
			if def.OS != nil && def.OS.Type != nil {
				arch, machine = def.OS.Type.Arch, def.OS.Type.Machine
			}
			res, err := call(ctx, dst, "compare CPU", func() (libvirt.CPUCompareResult, error) {
				return dst.c.CompareHypervisorCPU(emulator, arch, machine, def.Type, x, 0)
			})
			switch {
			case err != nil && IsCode(err, libvirt.ERR_NO_SUPPORT):
				notes = append(notes, "the target cannot compare CPUs; the CPU was not checked")
			case err != nil:
				notes = append(notes, "CPU not checked: "+err.Error())
			case res == libvirt.CPU_COMPARE_INCOMPATIBLE:
				bad(errs.Conflict, "the target's hypervisor cannot provide its CPU (model %s)", cpu.Model.Value)
			}
		}
	} else if live && cpu != nil && cpu.Mode == "host-passthrough" {
		notes = append(notes, "host-passthrough CPU: the target's CPU must match this host's exactly; not checked")
	}

	if def.Devices == nil {
		return problems, notes, nil
	}
	// Networks.
	for _, ifc := range def.Devices.Interfaces {
		if ifc.Source == nil || ifc.Source.Network == nil {
			continue
		}
		name := ifc.Source.Network.Network
		active, err := call(ctx, dst, "look up network "+name, func() (bool, error) {
			n, err := dst.c.LookupNetworkByName(name)
			if err != nil {
				return false, err
			}
			defer n.Free()
			return n.IsActive()
		})
		switch {
		case err != nil && IsCode(err, libvirt.ERR_NO_NETWORK):
			bad(errs.NotFound, "network %s does not exist there", name)
		case err != nil:
			return nil, nil, err
		case !active && live:
			bad(errs.Conflict, "network %s is not active there", name)
		}
	}
	// Disks.
	pools, err := dst.migrationPools(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, disk := range def.Devices.Disks {
		if disk.Source == nil || disk.Target == nil {
			continue
		}
		dev := disk.Target.Dev
		readOnly := disk.ReadOnly != nil || disk.Device == "cdrom" || disk.Device == "floppy"
		// A live move of a writable disk on storage both hosts see is safe only without the
		// host page cache; libvirt refuses otherwise, less clearly.
		if live && !readOnly && disk.Shareable == nil && o.CopyStorage == "" && !o.Unsafe {
			cache := ""
			if disk.Driver != nil {
				cache = disk.Driver.Cache
			}
			if cache != "none" && cache != "directsync" {
				shown := "cache='" + cache + "'"
				if cache == "" {
					shown = "the default cache mode (QEMU's writeback)"
				}
				bad(errs.Conflict, "disk %s uses %s: a live move of it could lose writes; set cache='none', or pass --unsafe if the storage is shared and coherent, or --copy-storage", dev, shown)
			}
		}
		// Without --copy-storage (and for read-only media, which libvirt never copies) the disk
		// must be there already. --copy-storage inc copies onto a disk that is there too:
		// libvirt 9.0 creates the copies only for "all" ("pre-creation of storage targets for
		// incremental storage migration is not supported"), in the pool the disk names or the
		// pool whose directory holds its file.
		mustExist := o.CopyStorage == "" || readOnly
		incTarget := o.CopyStorage == "inc" && !readOnly
		if v := disk.Source.Volume; v != nil {
			active, ok := pools.active[v.Pool]
			switch {
			case !ok:
				bad(errs.NotFound, "disk %s: storage pool %s does not exist there", dev, v.Pool)
				continue
			case !active:
				bad(errs.Conflict, "disk %s: storage pool %s is not active there", dev, v.Pool)
				continue
			}
			if incTarget {
				// libvirt's target looks for the disk it would copy onto by path
				// (qemuMigrationDstPrecreateStorage: virDomainDiskGetSource, virFileExists), and
				// a pool volume has no path before the domain starts: it always finds none and
				// refuses, even when the volume is there.
				bad(errs.Conflict, "disk %s is pool volume %s/%s: libvirt cannot --copy-storage inc a pool volume (it looks for the target disk by a path a volume has not yet); use --copy-storage all", dev, v.Pool, v.Volume)
				continue
			}
			if !mustExist {
				continue
			}
			if _, err := dst.volumeInPool(ctx, v.Pool, v.Volume); err != nil {
				bad(errs.NotFound, "disk %s: volume %s is not in pool %s there (refresh the pool there if the storage is shared, or use --copy-storage)", dev, v.Volume, v.Pool)
			}
		} else if f := disk.Source.File; f != nil && f.File != "" {
			pool, covered := pools.covering(f.File)
			switch {
			case covered && (mustExist || incTarget):
				if _, err := dst.volumeAt(ctx, f.File); err == nil {
					break
				}
				if incTarget {
					bad(errs.NotFound, "disk %s: --copy-storage inc copies onto a disk already there, and %s is not there (no such volume in pool %s; create it there with the same backing image, or use --copy-storage all)", dev, f.File, pool)
				} else {
					bad(errs.NotFound, "disk %s: %s is not there (no such volume in pool %s; refresh it if the storage is shared, or use --copy-storage)", dev, f.File, pool)
				}
			case covered:
			case mustExist || incTarget:
				notes = append(notes, fmt.Sprintf("disk %s: %s is in no storage pool there, so its presence was not checked", dev, f.File))
			default:
				notes = append(notes, fmt.Sprintf("disk %s: no storage pool there has %s as its directory, and libvirt creates copies only in a pool: the move fails unless %s is there already", dev, filepath.Dir(f.File), f.File))
			}
		}
	}
	return problems, notes, nil
}

// targetPools is what the target host's storage pools tell a migration preflight.
type targetPools struct {
	active map[string]bool   // pool name → active
	dirs   map[string]string // directory of an active pool → its name
}

func (c *Conn) migrationPools(ctx context.Context) (targetPools, error) {
	return call(ctx, c, "list storage pools", func() (targetPools, error) {
		tp := targetPools{active: map[string]bool{}, dirs: map[string]string{}}
		ps, err := c.c.ListAllStoragePools(0)
		if err != nil {
			return tp, err
		}
		for _, p := range ps {
			name, err1 := p.GetName()
			active, err2 := p.IsActive()
			x, err3 := p.GetXMLDesc(0)
			_ = p.Free()
			if err1 != nil || err2 != nil {
				continue
			}
			tp.active[name] = active
			var def libvirtxml.StoragePool
			if active && err3 == nil && def.Unmarshal(x) == nil && def.Target != nil && def.Target.Path != "" {
				tp.dirs[filepath.Clean(def.Target.Path)] = name
			}
		}
		return tp, nil
	})
}

// covering names the active pool whose directory holds file (a "dir" or "fs" pool lists the
// files of its directory as volumes), if there is one.
func (tp targetPools) covering(file string) (string, bool) {
	name, ok := tp.dirs[filepath.Dir(filepath.Clean(file))]
	return name, ok
}

func (c *Conn) volumeInPool(ctx context.Context, pool, vol string) (string, error) {
	return call(ctx, c, "look up volume "+pool+"/"+vol, func() (string, error) {
		p, err := c.c.LookupStoragePoolByName(pool)
		if err != nil {
			return "", err
		}
		defer p.Free()
		v, err := p.LookupStorageVolByName(vol)
		if err != nil {
			return "", err
		}
		defer v.Free()
		return v.GetPath()
	})
}

func (c *Conn) volumeAt(ctx context.Context, path string) (string, error) {
	return call(ctx, c, "look up volume "+path, func() (string, error) {
		v, err := c.c.LookupStorageVolByPath(path)
		if err != nil {
			return "", err
		}
		defer v.Free()
		return v.GetName()
	})
}

// JoinProblems makes one line of several preflight problems.
func JoinProblems(ps []PreflightProblem) string {
	rs := make([]string, len(ps))
	for i, p := range ps {
		rs[i] = p.Reason
	}
	return strings.Join(rs, "; ")
}

// Autostart says whether libvirt starts the domain with its host.
func (d *Domain) Autostart(ctx context.Context) (bool, error) {
	return call(ctx, d.c, "autostart "+d.Name, d.d.GetAutostart)
}

// DomainByUUID looks a domain up by UUID (a migration's leftover on the target keeps it).
func (c *Conn) DomainByUUID(ctx context.Context, uuid string) (*Domain, error) {
	d, err := call(ctx, c, "lookup "+uuid, func() (*libvirt.Domain, error) { return c.c.LookupDomainByUUIDString(uuid) })
	if err != nil {
		return nil, err
	}
	name, err := call(ctx, c, "name of "+uuid, d.GetName)
	if err != nil {
		_ = d.Free()
		return nil, err
	}
	return &Domain{Name: name, c: c, d: d}, nil
}

// RemoveMigrationLeftover removes what a failed incoming migration left of a domain that is not
// running: its definition (and a paused incoming instance). It keeps NVRAM and disks, which the
// source may share with it.
func (d *Domain) RemoveMigrationLeftover(ctx context.Context) error {
	if active, err := call(ctx, d.c, "active "+d.Name, d.d.IsActive); err == nil && active {
		if err := call0(ctx, d.c, "destroy "+d.Name, d.d.Destroy); err != nil {
			return err
		}
	}
	persistent, err := call(ctx, d.c, "persistent "+d.Name, d.d.IsPersistent)
	if err != nil || !persistent {
		return err
	}
	return call0(ctx, d.c, "undefine "+d.Name, func() error {
		return d.d.UndefineFlags(libvirt.DOMAIN_UNDEFINE_KEEP_NVRAM | libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
	})
}

// Persistent says whether the domain has a definition that outlives it stopping.
func (d *Domain) Persistent(ctx context.Context) (bool, error) {
	return call(ctx, d.c, "persistent "+d.Name, d.d.IsPersistent)
}

// DiskCopy is where --copy-storage all will create a disk's copy on the target: a volume of a
// pool (Pool, Volume) or a file (Path) in the pool over its directory.
type DiskCopy struct {
	Dev          string
	Pool, Volume string
	Path         string
}

func (dc DiskCopy) String() string {
	if dc.Path != "" {
		return dc.Path
	}
	return dc.Pool + "/" + dc.Volume
}

// MissingDiskCopies lists the writable disks of def that are not on dst now, so that a
// --copy-storage all move creates them there. After a failed move these are partial copies
// the move made, not disks of anyone's: RemoveDiskCopy takes them away again.
func MissingDiskCopies(ctx context.Context, dst *Conn, def *libvirtxml.Domain) ([]DiskCopy, error) {
	if def.Devices == nil {
		return nil, nil
	}
	var out []DiskCopy
	for _, disk := range def.Devices.Disks {
		if disk.Source == nil || disk.Target == nil || disk.ReadOnly != nil || disk.Shareable != nil || disk.Device == "cdrom" || disk.Device == "floppy" {
			continue
		}
		var (
			dc  DiskCopy
			err error
		)
		switch {
		case disk.Source.Volume != nil:
			dc = DiskCopy{Dev: disk.Target.Dev, Pool: disk.Source.Volume.Pool, Volume: disk.Source.Volume.Volume}
			_, err = dst.volumeInPool(ctx, dc.Pool, dc.Volume)
		case disk.Source.File != nil && disk.Source.File.File != "":
			dc = DiskCopy{Dev: disk.Target.Dev, Path: disk.Source.File.File}
			_, err = dst.volumeAt(ctx, dc.Path)
		default:
			continue
		}
		switch {
		case err == nil: // there already: libvirt copies onto it, and it is not ours to remove
		case IsCode(err, libvirt.ERR_NO_STORAGE_VOL) || IsCode(err, libvirt.ERR_NO_STORAGE_POOL):
			out = append(out, dc)
		default:
			return nil, err
		}
	}
	return out, nil
}

// RemoveDiskCopy deletes a copy a failed move left on this (the target) host, if it is there.
// It reports whether there was one.
func (c *Conn) RemoveDiskCopy(ctx context.Context, dc DiskCopy) (bool, error) {
	return call(ctx, c, "remove the copy "+dc.String(), func() (bool, error) {
		var (
			v   *libvirt.StorageVol
			err error
		)
		if dc.Path != "" {
			// The copy is a new file in the pool's directory: the pool must look again to see it.
			if p, perr := c.c.LookupStoragePoolByTargetPath(filepath.Dir(dc.Path)); perr == nil {
				_ = p.Refresh(0)
				_ = p.Free()
			}
			v, err = c.c.LookupStorageVolByPath(dc.Path)
		} else {
			p, perr := c.c.LookupStoragePoolByName(dc.Pool)
			if perr != nil {
				return false, perr
			}
			defer p.Free()
			_ = p.Refresh(0)
			v, err = p.LookupStorageVolByName(dc.Volume)
		}
		if IsCode(err, libvirt.ERR_NO_STORAGE_VOL) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		defer v.Free()
		return true, v.Delete(0)
	})
}
