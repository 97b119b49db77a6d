package virt

import (
	"context"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirt"
)

// Kinds of objects events are about (model.Event.Kind).
const (
	KindVM      = "vm"
	KindNetwork = "network"
	KindPool    = "pool"
	KindHost    = "host" // records about the stream itself
)

// EventKinds are the kinds `vmctl events --kind` accepts.
var EventKinds = []string{KindVM, KindNetwork, KindPool}

// LifecycleTypes are the event types of domain lifecycle events, in libvirt's order.
var LifecycleTypes = []string{"defined", "undefined", "started", "suspended", "resumed", "stopped", "shutdown", "pmsuspended", "crashed"}

// DomainEventTypes are the other domain event types, one per libvirt event ID (the two legacy
// IDs that repeat a newer one, block-job and io-error, are delivered through block-job-2 and
// io-error-reason; see SubscribeEvents).
var DomainEventTypes = []string{"reboot", "rtc_change", "watchdog", "io_error", "graphics", "control_error",
	"block_job", "disk_change", "tray_change", "pm_wakeup", "pm_suspend", "pm_suspend_disk", "balloon_change",
	"device_added", "device_removed", "device_removal_failed", "tunable", "agent_lifecycle", "migration_iteration",
	"job_completed", "metadata_change", "block_threshold", "memory_failure", "memory_device_size_change", "nic_mac_change"}

// NetworkEventTypes and PoolEventTypes are the network and storage-pool event types.
var (
	NetworkEventTypes = []string{"defined", "undefined", "started", "stopped", "metadata_change"}
	PoolEventTypes    = []string{"defined", "undefined", "started", "stopped", "created", "deleted", "refresh"}
)

var lifecycleDetails = map[libvirt.DomainEventType]map[int]string{
	libvirt.DOMAIN_EVENT_DEFINED: {
		int(libvirt.DOMAIN_EVENT_DEFINED_ADDED): "added", int(libvirt.DOMAIN_EVENT_DEFINED_UPDATED): "updated",
		int(libvirt.DOMAIN_EVENT_DEFINED_RENAMED): "renamed", int(libvirt.DOMAIN_EVENT_DEFINED_FROM_SNAPSHOT): "from_snapshot",
	},
	libvirt.DOMAIN_EVENT_UNDEFINED: {
		int(libvirt.DOMAIN_EVENT_UNDEFINED_REMOVED): "removed", int(libvirt.DOMAIN_EVENT_UNDEFINED_RENAMED): "renamed",
	},
	libvirt.DOMAIN_EVENT_STARTED: {
		int(libvirt.DOMAIN_EVENT_STARTED_BOOTED): "booted", int(libvirt.DOMAIN_EVENT_STARTED_MIGRATED): "migrated",
		int(libvirt.DOMAIN_EVENT_STARTED_RESTORED): "restored", int(libvirt.DOMAIN_EVENT_STARTED_FROM_SNAPSHOT): "from_snapshot",
		int(libvirt.DOMAIN_EVENT_STARTED_WAKEUP): "wakeup", int(libvirt.DOMAIN_EVENT_STARTED_RECREATED): "recreated",
	},
	libvirt.DOMAIN_EVENT_SUSPENDED: {
		int(libvirt.DOMAIN_EVENT_SUSPENDED_PAUSED): "paused", int(libvirt.DOMAIN_EVENT_SUSPENDED_MIGRATED): "migrated",
		int(libvirt.DOMAIN_EVENT_SUSPENDED_IOERROR): "io_error", int(libvirt.DOMAIN_EVENT_SUSPENDED_WATCHDOG): "watchdog",
		int(libvirt.DOMAIN_EVENT_SUSPENDED_RESTORED): "restored", int(libvirt.DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT): "from_snapshot",
		int(libvirt.DOMAIN_EVENT_SUSPENDED_API_ERROR): "api_error", int(libvirt.DOMAIN_EVENT_SUSPENDED_POSTCOPY): "postcopy",
		int(libvirt.DOMAIN_EVENT_SUSPENDED_POSTCOPY_FAILED): "postcopy_failed", int(libvirt.DOMAIN_EVENT_SUSPENDED_GUEST_SHUTDOWN): "guest_shutdown",
	},
	libvirt.DOMAIN_EVENT_RESUMED: {
		int(libvirt.DOMAIN_EVENT_RESUMED_UNPAUSED): "unpaused", int(libvirt.DOMAIN_EVENT_RESUMED_MIGRATED): "migrated",
		int(libvirt.DOMAIN_EVENT_RESUMED_FROM_SNAPSHOT): "from_snapshot", int(libvirt.DOMAIN_EVENT_RESUMED_POSTCOPY): "postcopy",
		int(libvirt.DOMAIN_EVENT_RESUMED_POSTCOPY_FAILED): "postcopy_failed",
	},
	libvirt.DOMAIN_EVENT_STOPPED: {
		int(libvirt.DOMAIN_EVENT_STOPPED_SHUTDOWN): "shutdown", int(libvirt.DOMAIN_EVENT_STOPPED_DESTROYED): "destroyed",
		int(libvirt.DOMAIN_EVENT_STOPPED_CRASHED): "crashed", int(libvirt.DOMAIN_EVENT_STOPPED_MIGRATED): "migrated",
		int(libvirt.DOMAIN_EVENT_STOPPED_SAVED): "saved", int(libvirt.DOMAIN_EVENT_STOPPED_FAILED): "failed",
		int(libvirt.DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT): "from_snapshot", int(libvirt.DOMAIN_EVENT_STOPPED_RECREATED): "recreated",
	},
	libvirt.DOMAIN_EVENT_SHUTDOWN: {
		int(libvirt.DOMAIN_EVENT_SHUTDOWN_FINISHED): "finished", int(libvirt.DOMAIN_EVENT_SHUTDOWN_GUEST): "guest",
		int(libvirt.DOMAIN_EVENT_SHUTDOWN_HOST): "host",
	},
	libvirt.DOMAIN_EVENT_PMSUSPENDED: {
		int(libvirt.DOMAIN_EVENT_PMSUSPENDED_MEMORY): "memory", int(libvirt.DOMAIN_EVENT_PMSUSPENDED_DISK): "disk",
	},
	libvirt.DOMAIN_EVENT_CRASHED: {
		int(libvirt.DOMAIN_EVENT_CRASHED_PANICKED): "panicked", int(libvirt.DOMAIN_EVENT_CRASHED_CRASHLOADED): "crashloaded",
	},
}

// LifecycleEvent names a domain lifecycle event and its detail in the JSON contract's words.
func LifecycleEvent(ev libvirt.DomainEventType, detail int) (typ, det string) {
	typ = "unknown"
	if int(ev) >= 0 && int(ev) < len(LifecycleTypes) {
		typ = LifecycleTypes[ev]
	}
	det, ok := lifecycleDetails[ev][detail]
	if !ok {
		det = "unknown"
	}
	return typ, det
}

func word(list []string, i int) string {
	if i >= 0 && i < len(list) {
		return list[i]
	}
	return "unknown"
}

var (
	watchdogActions   = []string{"none", "pause", "reset", "poweroff", "shutdown", "debug", "inject_nmi"}
	ioErrorActions    = []string{"none", "pause", "report"}
	graphicsPhases    = []string{"connect", "initialize", "disconnect"}
	graphicsFamilies  = []string{"ipv4", "ipv6", "unix"}
	blockJobTypes     = []string{"unknown", "pull", "copy", "commit", "active_commit", "backup"}
	blockJobStatuses  = []string{"completed", "failed", "canceled", "ready"}
	diskChangeReasons = []string{"missing_on_start", "drop_missing_on_start"}
	trayReasons       = []string{"open", "close"}
	agentStates       = []string{"unknown", "connected", "disconnected"}
	agentReasons      = []string{"unknown", "domain_started", "channel"}
	jobTypes          = []string{"none", "bounded", "unbounded", "completed", "failed", "cancelled"}
	jobOperations     = []string{"unknown", "start", "save", "restore", "migration_in", "migration_out", "snapshot", "snapshot_revert", "dump", "backup", "snapshot_delete"}
	metadataTypes     = []string{"description", "title", "element"}
	memFailRecipients = []string{"hypervisor", "guest"}
	memFailActions    = []string{"ignore", "inject", "fatal", "reset"}
	netLifecycle      = []string{"defined", "undefined", "started", "stopped"}
	poolLifecycle     = []string{"defined", "undefined", "started", "stopped", "created", "deleted"}
)

// EventSubscription is the set of callbacks SubscribeEvents registered on a connection.
type EventSubscription struct {
	c                   *Conn
	dom, network, pools []int
}

// domainIdentity reads what an event says about its domain: name and UUID are in the handle
// libvirt passes, no call to the daemon (callbacks must not wait on it).
func domainIdentity(d *libvirt.Domain) (string, string) {
	name, _ := d.GetName()
	uuid, _ := d.GetUUIDString()
	return name, uuid
}

// SubscribeEvents registers, for every object of the given kinds, a callback for every event
// libvirt offers for it; emit receives each event with Kind, Name, UUID, Type, Detail and Data
// set. emit runs on libvirt's event-loop goroutine, which also runs keepalive: it must not
// block. The returned names are the event types this libvirt does not offer (an older daemon).
//
// libvirt's legacy block-job (disk by path) and io-error (without reason) IDs deliver the same
// events as block-job-2 and io-error-reason; only the newer ones are registered, so each block
// job or I/O error gives one record.
func (c *Conn) SubscribeEvents(ctx context.Context, kinds []string, emit func(model.Event)) (*EventSubscription, []string, error) {
	s := &EventSubscription{c: c}
	var unsupported []string
	type reg struct {
		typ string
		fn  func() (int, error)
	}
	vm := func(d *libvirt.Domain, typ, detail string, data any) {
		name, uuid := domainIdentity(d)
		emit(model.Event{Kind: KindVM, Name: name, UUID: uuid, Type: typ, Detail: detail, Data: data})
	}
	r := c.c
	var doms, nets, pools []reg
	if slices.Contains(kinds, KindVM) {
		doms = []reg{
			{"lifecycle", func() (int, error) {
				return r.DomainEventLifecycleRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventLifecycle) {
					typ, det := LifecycleEvent(e.Event, e.Detail)
					vm(d, typ, det, model.EventLifecycleData{Event: int(e.Event), Detail: e.Detail})
				})
			}},
			{"reboot", func() (int, error) {
				return r.DomainEventRebootRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain) { vm(d, "reboot", "", struct{}{}) })
			}},
			{"rtc_change", func() (int, error) {
				return r.DomainEventRTCChangeRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventRTCChange) {
					vm(d, "rtc_change", "", model.EventRTCChangeData{UTCOffsetSeconds: e.Utcoffset})
				})
			}},
			{"watchdog", func() (int, error) {
				return r.DomainEventWatchdogRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventWatchdog) {
					a := word(watchdogActions, int(e.Action))
					vm(d, "watchdog", a, model.EventWatchdogData{Action: a})
				})
			}},
			{"io_error", func() (int, error) {
				return r.DomainEventIOErrorReasonRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventIOErrorReason) {
					a := word(ioErrorActions, int(e.Action))
					vm(d, "io_error", a, model.EventIOErrorData{SourcePath: e.SrcPath, DevAlias: e.DevAlias, Action: a, Reason: e.Reason})
				})
			}},
			{"graphics", func() (int, error) {
				return r.DomainEventGraphicsRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventGraphics) {
					addr := func(a libvirt.DomainEventGraphicsAddress) model.EventGraphicsAddress {
						return model.EventGraphicsAddress{Family: word(graphicsFamilies, int(a.Family)), Node: a.Node, Service: a.Service}
					}
					subject := make([]model.EventGraphicsSubject, 0, len(e.Subject))
					for _, s := range e.Subject {
						subject = append(subject, model.EventGraphicsSubject{Type: s.Type, Name: s.Name})
					}
					p := word(graphicsPhases, int(e.Phase))
					vm(d, "graphics", p, model.EventGraphicsData{Phase: p, Local: addr(e.Local), Remote: addr(e.Remote), AuthScheme: e.AuthScheme, Subject: subject})
				})
			}},
			{"control_error", func() (int, error) {
				return r.DomainEventControlErrorRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain) { vm(d, "control_error", "", struct{}{}) })
			}},
			{"block_job", func() (int, error) {
				return r.DomainEventBlockJob2Register(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventBlockJob) {
					st := word(blockJobStatuses, int(e.Status))
					vm(d, "block_job", st, model.EventBlockJobData{Disk: e.Disk, Job: word(blockJobTypes, int(e.Type)), Status: st})
				})
			}},
			{"disk_change", func() (int, error) {
				return r.DomainEventDiskChangeRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventDiskChange) {
					why := word(diskChangeReasons, int(e.Reason))
					vm(d, "disk_change", why, model.EventDiskChangeData{OldSourcePath: e.OldSrcPath, NewSourcePath: e.NewSrcPath, DevAlias: e.DevAlias, Reason: why})
				})
			}},
			{"tray_change", func() (int, error) {
				return r.DomainEventTrayChangeRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventTrayChange) {
					tray := word(trayReasons, int(e.Reason))
					vm(d, "tray_change", tray, model.EventTrayChangeData{DevAlias: e.DevAlias, Tray: tray})
				})
			}},
			{"pm_wakeup", func() (int, error) {
				return r.DomainEventPMWakeupRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventPMWakeup) {
					vm(d, "pm_wakeup", "", model.EventPMData{Reason: e.Reason})
				})
			}},
			{"pm_suspend", func() (int, error) {
				return r.DomainEventPMSuspendRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventPMSuspend) {
					vm(d, "pm_suspend", "", model.EventPMData{Reason: e.Reason})
				})
			}},
			{"pm_suspend_disk", func() (int, error) {
				return r.DomainEventPMSuspendDiskRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventPMSuspendDisk) {
					vm(d, "pm_suspend_disk", "", model.EventPMData{Reason: e.Reason})
				})
			}},
			{"balloon_change", func() (int, error) {
				return r.DomainEventBalloonChangeRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventBalloonChange) {
					vm(d, "balloon_change", "", model.EventBalloonData{ActualBytes: e.Actual * 1024}) // libvirt: KiB
				})
			}},
			{"device_added", func() (int, error) {
				return r.DomainEventDeviceAddedRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventDeviceAdded) {
					vm(d, "device_added", e.DevAlias, model.EventDeviceData{DevAlias: e.DevAlias})
				})
			}},
			{"device_removed", func() (int, error) {
				return r.DomainEventDeviceRemovedRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventDeviceRemoved) {
					vm(d, "device_removed", e.DevAlias, model.EventDeviceData{DevAlias: e.DevAlias})
				})
			}},
			{"device_removal_failed", func() (int, error) {
				return r.DomainEventDeviceRemovalFailedRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventDeviceRemovalFailed) {
					vm(d, "device_removal_failed", e.DevAlias, model.EventDeviceData{DevAlias: e.DevAlias})
				})
			}},
			{"tunable", func() (int, error) {
				return r.DomainEventTunableRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventTunable) {
					vm(d, "tunable", "", model.EventTunableData{CPUSched: e.CpuSched != nil, CPUPin: e.CpuPin != nil, BlockDisk: e.BlkdevDisk, BlockTuned: e.BlkdevTune != nil})
				})
			}},
			{"agent_lifecycle", func() (int, error) {
				return r.DomainEventAgentLifecycleRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventAgentLifecycle) {
					st := word(agentStates, int(e.State))
					vm(d, "agent_lifecycle", st, model.EventAgentData{State: st, Reason: word(agentReasons, int(e.Reason))})
				})
			}},
			{"migration_iteration", func() (int, error) {
				return r.DomainEventMigrationIterationRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventMigrationIteration) {
					vm(d, "migration_iteration", "", model.EventMigrationData{Iteration: e.Iteration})
				})
			}},
			{"job_completed", func() (int, error) {
				return r.DomainEventJobCompletedRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventJobCompleted) {
					i := e.Info
					op := word(jobOperations, int(i.Operation))
					vm(d, "job_completed", op, model.EventJobData{Type: word(jobTypes, int(i.Type)), Operation: op,
						ElapsedSeconds: float64(i.TimeElapsed) / 1000, DataTotalBytes: i.DataTotal})
				})
			}},
			{"metadata_change", func() (int, error) {
				return r.DomainEventMetadataChangeRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventMetadataChange) {
					t := word(metadataTypes, int(e.Type))
					vm(d, "metadata_change", t, model.EventMetadataData{Type: t, Namespace: e.NSURI})
				})
			}},
			{"block_threshold", func() (int, error) {
				return r.DomainEventBlockThresholdRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventBlockThreshold) {
					vm(d, "block_threshold", e.Dev, model.EventBlockThresholdData{Dev: e.Dev, Path: e.Path, ThresholdBytes: e.Threshold, ExcessBytes: e.Excess})
				})
			}},
			{"memory_failure", func() (int, error) {
				return r.DomainEventMemoryFailureRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventMemoryFailure) {
					a := word(memFailActions, int(e.Action))
					vm(d, "memory_failure", a, model.EventMemoryFailureData{Recipient: word(memFailRecipients, int(e.Recipient)), Action: a,
						ActionRequired: e.Flags&libvirt.DOMAIN_MEMORY_FAILURE_ACTION_REQUIRED != 0, Recursive: e.Flags&libvirt.DOMAIN_MEMORY_FAILURE_RECURSIVE != 0})
				})
			}},
			{"memory_device_size_change", func() (int, error) {
				return r.DomainEventMemoryDeviceSizeChangeRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventMemoryDeviceSizeChange) {
					vm(d, "memory_device_size_change", e.Alias, model.EventMemoryDeviceData{Alias: e.Alias, SizeBytes: e.Size * 1024}) // libvirt: KiB
				})
			}},
			{"nic_mac_change", func() (int, error) {
				return r.DomainEventNICMACChangeRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventNICMACChange) {
					vm(d, "nic_mac_change", e.Alias, model.EventNICMACData{Alias: e.Alias, OldMAC: e.OldMAC, NewMAC: e.NewMAC})
				})
			}},
		}
	}
	if slices.Contains(kinds, KindNetwork) {
		ident := func(n *libvirt.Network) (string, string) {
			name, _ := n.GetName()
			uuid, _ := n.GetUUIDString()
			return name, uuid
		}
		nets = []reg{
			{"lifecycle", func() (int, error) {
				return r.NetworkEventLifecycleRegister(nil, func(_ *libvirt.Connect, n *libvirt.Network, e *libvirt.NetworkEventLifecycle) {
					name, uuid := ident(n)
					emit(model.Event{Kind: KindNetwork, Name: name, UUID: uuid, Type: word(netLifecycle, int(e.Event)),
						Data: model.EventLifecycleData{Event: int(e.Event), Detail: e.Detail}})
				})
			}},
			{"metadata_change", func() (int, error) {
				return r.NetworkEventMetadataChangeRegister(nil, func(_ *libvirt.Connect, n *libvirt.Network, e *libvirt.NetworkEventMetadataChange) {
					name, uuid := ident(n)
					t := word(metadataTypes, int(e.Type))
					emit(model.Event{Kind: KindNetwork, Name: name, UUID: uuid, Type: "metadata_change", Detail: t,
						Data: model.EventMetadataData{Type: t, Namespace: e.NSURI}})
				})
			}},
		}
	}
	if slices.Contains(kinds, KindPool) {
		ident := func(p *libvirt.StoragePool) (string, string) {
			name, _ := p.GetName()
			uuid, _ := p.GetUUIDString()
			return name, uuid
		}
		pools = []reg{
			{"lifecycle", func() (int, error) {
				return r.StoragePoolEventLifecycleRegister(nil, func(_ *libvirt.Connect, p *libvirt.StoragePool, e *libvirt.StoragePoolEventLifecycle) {
					name, uuid := ident(p)
					emit(model.Event{Kind: KindPool, Name: name, UUID: uuid, Type: word(poolLifecycle, int(e.Event)),
						Data: model.EventLifecycleData{Event: int(e.Event), Detail: e.Detail}})
				})
			}},
			{"refresh", func() (int, error) {
				return r.StoragePoolEventRefreshRegister(nil, func(_ *libvirt.Connect, p *libvirt.StoragePool) {
					name, uuid := ident(p)
					emit(model.Event{Kind: KindPool, Name: name, UUID: uuid, Type: "refresh", Data: struct{}{}})
				})
			}},
		}
	}
	// All registrations are one call: each is a round trip on a remote connection, and a
	// frozen daemon must not hold the stream past its deadline.
	err := call0(ctx, c, "register events", func() error {
		for _, group := range []struct {
			kind string
			regs []reg
			ids  *[]int
		}{{KindVM, doms, &s.dom}, {KindNetwork, nets, &s.network}, {KindPool, pools, &s.pools}} {
			for i, rg := range group.regs {
				id, err := rg.fn()
				if err == nil {
					*group.ids = append(*group.ids, id)
					continue
				}
				// The first (lifecycle) event of a kind must work; a later one an older daemon
				// lacks is left out, as virsh event --all does, unless the connection is gone.
				if i == 0 || errs.KindOf(c.mapError(err)) == errs.Unreachable {
					return err
				}
				unsupported = append(unsupported, group.kind+" "+rg.typ)
			}
		}
		return nil
	})
	if err != nil {
		s.Close(ctx)
		return nil, nil, err
	}
	return s, unsupported, nil
}

// Close deregisters the callbacks, unless the connection is gone or the daemon is not
// answering (the registrations end with the connection then).
func (s *EventSubscription) Close(ctx context.Context) {
	if s == nil || s.c.closed.Load() || !s.c.Answering() || s.c.c == nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupWait)
	defer cancel()
	_ = call0(cctx, s.c, "stop events", func() error {
		for _, id := range s.dom {
			_ = s.c.c.DomainEventDeregister(id)
		}
		for _, id := range s.network {
			_ = s.c.c.NetworkEventDeregister(id)
		}
		for _, id := range s.pools {
			_ = s.c.c.StoragePoolEventDeregister(id)
		}
		return nil
	})
}

// Lost is closed when libvirt tears the connection down (the daemon died or restarted, or
// keepalive found it unresponsive).
func (c *Conn) Lost() <-chan struct{} { return c.lost }

// Hostname is the libvirt host's name.
func (c *Conn) Hostname(ctx context.Context) (string, error) {
	return call(ctx, c, "host name", c.c.GetHostname)
}

// ObjectStates lists every object of the given kinds with its state, as records of type
// "state" (Kind, Name, UUID, Type, Detail and Data set), VMs first, each kind sorted by name.
func (c *Conn) ObjectStates(ctx context.Context, kinds []string) ([]model.Event, error) {
	return call(ctx, c, "list states", func() ([]model.Event, error) {
		var out []model.Event
		if slices.Contains(kinds, KindVM) {
			doms, err := c.c.ListAllDomains(0)
			if err != nil {
				return nil, err
			}
			start := len(out)
			for i := range doms {
				name, uuid := domainIdentity(&doms[i])
				st, reason, err := doms[i].GetState()
				_ = doms[i].Free()
				if err != nil {
					continue // gone since the list
				}
				state := StateName(st)
				out = append(out, model.Event{Kind: KindVM, Name: name, UUID: uuid, Type: "state", Detail: state,
					Data: model.EventStateData{State: state, Reason: reasonName(st, reason)}})
			}
			sortByName(out[start:])
		}
		if slices.Contains(kinds, KindNetwork) {
			nets, err := c.c.ListAllNetworks(0)
			if err != nil {
				return nil, err
			}
			start := len(out)
			for i := range nets {
				name, _ := nets[i].GetName()
				uuid, _ := nets[i].GetUUIDString()
				active, err := nets[i].IsActive()
				_ = nets[i].Free()
				if err == nil {
					out = append(out, activeState(KindNetwork, name, uuid, active))
				}
			}
			sortByName(out[start:])
		}
		if slices.Contains(kinds, KindPool) {
			pools, err := c.c.ListAllStoragePools(0)
			if err != nil {
				return nil, err
			}
			start := len(out)
			for i := range pools {
				name, _ := pools[i].GetName()
				uuid, _ := pools[i].GetUUIDString()
				active, err := pools[i].IsActive()
				_ = pools[i].Free()
				if err == nil {
					out = append(out, activeState(KindPool, name, uuid, active))
				}
			}
			sortByName(out[start:])
		}
		return out, nil
	})
}

func activeState(kind, name, uuid string, active bool) model.Event {
	state := "inactive"
	if active {
		state = "active"
	}
	return model.Event{Kind: kind, Name: name, UUID: uuid, Type: "state", Detail: state, Data: model.EventStateData{State: state}}
}

func sortByName(evs []model.Event) {
	slices.SortFunc(evs, func(a, b model.Event) int { return strings.Compare(a.Name, b.Name) })
}
