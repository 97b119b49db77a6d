package main

/*
#cgo pkg-config: libvirt
#include <stdlib.h>
#include <libvirt/libvirt.h>
*/
import "C"

import (
	"errors"
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
