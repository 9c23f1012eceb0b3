package finesleep

import (
	"sync"
	"testing"
	"time"
)

// How late a sleep ends is what a caller measures (generator lag, a replica's
// latency); never early is the contract.
func TestSleepUntilNeverEarly(t *testing.T) {
	s := New()
	defer s.Close()
	for i := range 20 {
		due := time.Now().Add(time.Duration(i*50) * time.Microsecond)
		s.SleepUntil(due)
		if now := time.Now(); now.Before(due) {
			t.Fatalf("woke %v early", due.Sub(now))
		}
	}
}

func TestNilSleeperSleepsOnTheRuntimeTimer(t *testing.T) {
	var s *Sleeper
	due := time.Now().Add(200 * time.Microsecond)
	s.SleepUntil(due)
	if now := time.Now(); now.Before(due) {
		t.Fatalf("woke %v early", due.Sub(now))
	}
	s.Close()
}

func TestPoolSleepsConcurrentlyAndKeepsItsCapacity(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	var wg sync.WaitGroup
	early := make(chan time.Duration, 8)
	for i := range 8 {
		wg.Go(func() {
			due := time.Now().Add(time.Duration(100+i*100) * time.Microsecond)
			p.SleepUntil(due)
			if now := time.Now(); now.Before(due) {
				early <- due.Sub(now)
			}
		})
	}
	wg.Wait()
	close(early)
	for d := range early {
		t.Errorf("a pooled sleep woke %v early", d)
	}
	if New() == nil {
		return // no timerfd: nothing is pooled
	}
	if n := len(p.free); n != 2 {
		t.Errorf("%d idle sleepers kept after 8 concurrent sleeps, want the pool's 2", n)
	}
	p.Close()
	if n := len(p.free); n != 0 {
		t.Errorf("%d idle sleepers after Close, want 0", n)
	}
	// Sequential sleeps reuse one sleeper rather than making one each.
	for range 3 {
		p.SleepUntil(time.Now().Add(50 * time.Microsecond))
	}
	if n := len(p.free); n != 1 {
		t.Errorf("%d idle sleepers after 3 sequential sleeps, want 1", n)
	}
}
