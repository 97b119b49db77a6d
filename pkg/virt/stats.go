package virt

/*
#cgo pkg-config: libvirt
#include <stdlib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
*/
import "C"

import (
	"runtime"
	"unsafe"

	"libvirt.org/go/libvirt"
)

// rawStats is one domain's record from virConnectGetAllDomainStats as flat typed parameters.
// The Go binding drops some fields we need (vcpu.current), so we read the records ourselves:
// still one RPC for every domain on the host.
type rawStats struct {
	Name   string
	UUID   string
	ID     *int // libvirt's run ID, new at each start; nil when not running
	Params map[string]any
}

func (r rawStats) uint(key string) (uint64, bool) {
	switch v := r.Params[key].(type) {
	case uint64:
		return v, true
	case int64:
		return uint64(v), v >= 0
	}
	return 0, false
}

func (r rawStats) str(key string) string {
	s, _ := r.Params[key].(string)
	return s
}

func allDomainStats(conn *libvirt.Connect, types libvirt.DomainStatsTypes, flags libvirt.ConnectGetAllDomainStatsFlags) ([]rawStats, error) {
	p, err := conn.RawPtr()
	if err != nil {
		return nil, err
	}
	cconn := (C.virConnectPtr)(unsafe.Pointer(p))
	// RawPtr took a reference: without giving it back, no connection that ever sampled would
	// be freed by its Close (metrics serve kept a connection, socket and all, per scrape).
	defer C.virConnectClose(cconn)
	// libvirt keeps the last error per OS thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var records *C.virDomainStatsRecordPtr
	n := C.virConnectGetAllDomainStats(cconn, C.uint(types), &records, C.uint(flags))
	if n < 0 {
		return nil, lastError()
	}
	defer C.virDomainStatsRecordListFree(records)
	return decodeRecords(records, int(n)), nil
}

// activeDomainStats asks for the active domains' statistics in up to parts bulk calls at once,
// each over a slice of them (virDomainListGetStats): libvirtd answers the calls in parallel,
// so the time one domain's QEMU takes to answer its monitor is not added to every other's.
// When a slice's call fails (a domain went away between the listing and the call), every
// active domain is asked again in one call.
func activeDomainStats(conn *libvirt.Connect, parts int, types libvirt.DomainStatsTypes, flags libvirt.ConnectGetAllDomainStatsFlags) ([]rawStats, error) {
	p, err := conn.RawPtr()
	if err != nil {
		return nil, err
	}
	cconn := (C.virConnectPtr)(unsafe.Pointer(p))
	defer C.virConnectClose(cconn) // RawPtr took a reference
	list := func() (*C.virDomainPtr, int, error) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var doms *C.virDomainPtr
		n := int(C.virConnectListAllDomains(cconn, &doms, C.VIR_CONNECT_LIST_DOMAINS_ACTIVE))
		if n < 0 {
			return nil, 0, lastError()
		}
		return doms, n, nil
	}
	doms, n, err := list()
	if err != nil {
		return nil, err
	}
	all := unsafe.Slice(doms, n)
	defer func() {
		for _, d := range all {
			C.virDomainFree(d)
		}
		C.free(unsafe.Pointer(doms))
	}()
	if n == 0 {
		return []rawStats{}, nil
	}
	size := (n + parts - 1) / parts
	type result struct {
		recs []rawStats
		err  error
	}
	var results []chan result
	for lo := 0; lo < n; lo += size {
		hi := min(lo+size, n)
		ch := make(chan result, 1)
		results = append(results, ch)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			// virDomainListGetStats wants a NULL-terminated array.
			arr := (*C.virDomainPtr)(C.calloc(C.size_t(hi-lo+1), C.size_t(unsafe.Sizeof(uintptr(0)))))
			defer C.free(unsafe.Pointer(arr))
			copy(unsafe.Slice(arr, hi-lo), all[lo:hi])
			var records *C.virDomainStatsRecordPtr
			got := C.virDomainListGetStats(arr, C.uint(types), &records, C.uint(flags))
			if got < 0 {
				ch <- result{err: lastError()}
				return
			}
			recs := decodeRecords(records, int(got))
			// Freed before the result is sent: the records' domains hold references to the
			// connection, which the caller may close as soon as it has every result.
			C.virDomainStatsRecordListFree(records)
			ch <- result{recs: recs}
		}()
	}
	out := make([]rawStats, 0, n)
	var failed bool
	for _, ch := range results {
		r := <-ch
		failed = failed || r.err != nil
		out = append(out, r.recs...)
	}
	if failed {
		return allDomainStats(conn, types, flags|libvirt.CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE)
	}
	return out, nil
}

// decodeRecords reads n records of virConnectGetAllDomainStats or virDomainListGetStats.
func decodeRecords(records *C.virDomainStatsRecordPtr, n int) []rawStats {
	recs := unsafe.Slice(records, n)
	out := make([]rawStats, 0, n)
	for _, rec := range recs {
		r := rawStats{Params: make(map[string]any, int(rec.nparams))}
		r.Name = C.GoString(C.virDomainGetName(rec.dom))
		// The ID is kept in the domain handle (no RPC); (unsigned)-1 means not running.
		if id := C.virDomainGetID(rec.dom); id != ^C.uint(0) {
			n := int(id)
			r.ID = &n
		}
		var uuid [C.VIR_UUID_STRING_BUFLEN]C.char
		if C.virDomainGetUUIDString(rec.dom, &uuid[0]) == 0 {
			r.UUID = C.GoString(&uuid[0])
		}
		params := unsafe.Slice(rec.params, int(rec.nparams))
		for i := range params {
			tp := &params[i]
			key := C.GoString(&tp.field[0])
			val := unsafe.Pointer(&tp.value[0])
			switch tp._type {
			case C.VIR_TYPED_PARAM_INT:
				r.Params[key] = int64(*(*C.int)(val))
			case C.VIR_TYPED_PARAM_UINT:
				r.Params[key] = uint64(*(*C.uint)(val))
			case C.VIR_TYPED_PARAM_LLONG:
				r.Params[key] = int64(*(*C.longlong)(val))
			case C.VIR_TYPED_PARAM_ULLONG:
				r.Params[key] = uint64(*(*C.ulonglong)(val))
			case C.VIR_TYPED_PARAM_DOUBLE:
				r.Params[key] = float64(*(*C.double)(val))
			case C.VIR_TYPED_PARAM_BOOLEAN:
				r.Params[key] = *(*C.char)(val) != 0
			case C.VIR_TYPED_PARAM_STRING:
				r.Params[key] = C.GoString(*(**C.char)(val))
			}
		}
		out = append(out, r)
	}
	return out
}

func lastError() error {
	e := C.virGetLastError()
	if e == nil {
		return libvirt.Error{Code: libvirt.ERR_INTERNAL_ERROR, Message: "unknown libvirt error"}
	}
	err := libvirt.Error{
		Code:    libvirt.ErrorNumber(e.code),
		Domain:  libvirt.ErrorDomain(e.domain),
		Message: C.GoString(e.message),
		Level:   libvirt.ErrorLevel(e.level),
	}
	C.virResetLastError()
	return err
}
