package main

import "runtime"

// heapFloor is memory the garbage collector counts and never frees or scans, so that
// its heap goal (twice the live heap at GOGC=100) cannot fall to the runtime's 4 MiB
// minimum. A gateway's live heap is small (a few MiB of connections, buffers and
// 26 KiB histograms) while it allocates a few KiB per request: without the floor a
// collection runs every couple of MiB allocated, and one hedge route over three
// replicas spent 9.9% of its instructions collecting instead of 5.9% (callgrind,
// scripts/instructions.sh). The pages are never written, so they cost address space,
// not resident memory; the heap metrics (go_memstats_heap_*) count them. GOGC and
// GOMEMLIMIT still apply: under a memory limit the floor counts toward it.
const heapFloorBytes = 4 << 20

var heapFloor []byte

// raiseHeapFloor allocates the floor once; only `gateway serve` calls it.
func raiseHeapFloor() {
	if heapFloor == nil {
		heapFloor = make([]byte, heapFloorBytes)
		runtime.KeepAlive(heapFloor)
	}
}
