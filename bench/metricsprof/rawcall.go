package main

/*
#cgo pkg-config: libvirt
#include <stdlib.h>
#include <libvirt/libvirt.h>
*/
import "C"

import (
	"errors"
	"slices"
	"strings"
	"unsafe"

	"libvirt.org/go/libvirt"
)

// rawAllDomainStats is virConnectGetAllDomainStats and nothing else: the records are freed
// unread, so its time is the daemon's and the RPC's, not any decoding (the Go binding's
// GetAllDomainStats decodes every typed parameter through reflection-heavy code that costs
// more than the call).
func rawAllDomainStats(conn *libvirt.Connect, groups libvirt.DomainStatsTypes, flags libvirt.ConnectGetAllDomainStatsFlags) (int, error) {
	p, err := conn.RawPtr()
	if err != nil {
		return 0, err
	}
	cconn := (C.virConnectPtr)(unsafe.Pointer(p))
	defer C.virConnectClose(cconn) // RawPtr took a reference
	var records *C.virDomainStatsRecordPtr
	n := C.virConnectGetAllDomainStats(cconn, C.uint(groups), &records, C.uint(flags))
	if n < 0 {
		return 0, errors.New("virConnectGetAllDomainStats failed")
	}
	C.virDomainStatsRecordListFree(records)
	return int(n), nil
}

// rawChunkedActive lists the active domains and asks for their statistics in k bulk calls over
// k slices of them at once (virDomainListGetStats), the records freed unread.
func rawChunkedActive(conn *libvirt.Connect, k int, groups libvirt.DomainStatsTypes, flags libvirt.ConnectGetAllDomainStatsFlags) (int, error) {
	p, err := conn.RawPtr()
	if err != nil {
		return 0, err
	}
	cconn := (C.virConnectPtr)(unsafe.Pointer(p))
	defer C.virConnectClose(cconn)
	var doms *C.virDomainPtr
	n := int(C.virConnectListAllDomains(cconn, &doms, C.VIR_CONNECT_LIST_DOMAINS_ACTIVE))
	if n < 0 {
		return 0, errors.New("virConnectListAllDomains failed")
	}
	all := unsafe.Slice(doms, n+1) // NULL-terminated
	defer func() {
		for _, d := range all[:n] {
			C.virDomainFree(d)
		}
		C.free(unsafe.Pointer(doms))
	}()
	if n == 0 {
		return 0, nil
	}
	size := (n + k - 1) / k
	done := make(chan error, k)
	calls := 0
	for lo := 0; lo < n; lo += size {
		hi := min(lo+size, n)
		calls++
		go func() {
			// a NULL-terminated C array of this slice's domains
			arr := (*C.virDomainPtr)(C.calloc(C.size_t(hi-lo+1), C.size_t(unsafe.Sizeof(uintptr(0)))))
			defer C.free(unsafe.Pointer(arr))
			copy(unsafe.Slice(arr, hi-lo), all[lo:hi])
			var records *C.virDomainStatsRecordPtr
			if C.virDomainListGetStats(arr, C.uint(groups), &records, C.uint(flags)) < 0 {
				done <- errors.New("virDomainListGetStats failed")
				return
			}
			C.virDomainStatsRecordListFree(records)
			done <- nil
		}()
	}
	for range calls {
		if e := <-done; e != nil {
			err = e
		}
	}
	return n, err
}

// rawPooledActive asks for the running domains' statistics over conns at once: each connection
// lists the running domains itself (a domain handle belongs to its connection), takes every
// len(conns)-th of them by name, and asks for its share in up to perConn calls at once (libvirtd
// answers 5 requests of one client at a time by default), one domain per call when the share
// is that small. The records are freed unread.
func rawPooledActive(conns []*libvirt.Connect, perConn int, groups libvirt.DomainStatsTypes, flags libvirt.ConnectGetAllDomainStatsFlags) (int, error) {
	type res struct {
		n   int
		err error
	}
	done := make(chan res, len(conns))
	for j, conn := range conns {
		go func() {
			p, err := conn.RawPtr()
			if err != nil {
				done <- res{err: err}
				return
			}
			cconn := (C.virConnectPtr)(unsafe.Pointer(p))
			defer C.virConnectClose(cconn)
			var doms *C.virDomainPtr
			n := int(C.virConnectListAllDomains(cconn, &doms, C.VIR_CONNECT_LIST_DOMAINS_ACTIVE))
			if n < 0 {
				done <- res{err: errors.New("virConnectListAllDomains failed")}
				return
			}
			all := slices.Clone(unsafe.Slice(doms, n))
			defer func() {
				for _, d := range all {
					C.virDomainFree(d)
				}
				C.free(unsafe.Pointer(doms))
			}()
			slices.SortFunc(all, func(a, b C.virDomainPtr) int {
				return strings.Compare(C.GoString(C.virDomainGetName(a)), C.GoString(C.virDomainGetName(b)))
			})
			var mine []C.virDomainPtr
			for i, d := range all {
				if i%len(conns) == j {
					mine = append(mine, d)
				}
			}
			if len(mine) == 0 {
				done <- res{}
				return
			}
			k := min(perConn, len(mine))
			size := (len(mine) + k - 1) / k
			errc := make(chan error, k)
			calls := 0
			for lo := 0; lo < len(mine); lo += size {
				share := mine[lo:min(lo+size, len(mine))]
				calls++
				go func() {
					arr := (*C.virDomainPtr)(C.calloc(C.size_t(len(share)+1), C.size_t(unsafe.Sizeof(uintptr(0)))))
					defer C.free(unsafe.Pointer(arr))
					copy(unsafe.Slice(arr, len(share)), share)
					var records *C.virDomainStatsRecordPtr
					if C.virDomainListGetStats(arr, C.uint(groups), &records, C.uint(flags)) < 0 {
						errc <- errors.New("virDomainListGetStats failed")
						return
					}
					C.virDomainStatsRecordListFree(records)
					errc <- nil
				}()
			}
			for range calls {
				if e := <-errc; e != nil {
					err = e
				}
			}
			done <- res{n: len(mine), err: err}
		}()
	}
	total := 0
	var err error
	for range conns {
		r := <-done
		total += r.n
		if r.err != nil {
			err = r.err
		}
	}
	return total, err
}
