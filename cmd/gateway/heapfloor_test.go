package main

import (
	"runtime"
	"testing"
)

// The floor must stay reachable (a collected floor raises nothing) and count in the
// heap the collector paces by: after a collection its goal is at least twice it.
func TestHeapFloorHoldsTheGoalUp(t *testing.T) {
	raiseHeapFloor()
	first := &heapFloor[0]
	raiseHeapFloor() // a second call allocates nothing more
	if &heapFloor[0] != first {
		t.Fatal("raiseHeapFloor allocated a second floor")
	}
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	if m.HeapAlloc < heapFloorBytes || m.NextGC < 2*heapFloorBytes {
		t.Errorf("after a collection: heap %d bytes, goal %d; want the %d-byte floor live and a goal ≥ twice it",
			m.HeapAlloc, m.NextGC, heapFloorBytes)
	}
}
