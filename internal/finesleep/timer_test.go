package finesleep

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// receive waits for t's value, giving up after a generous bound so a lost timer
// fails the test instead of hanging it.
func receive(t *testing.T, tm *Timer, what string) time.Time {
	t.Helper()
	select {
	case v := <-tm.C:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("%s never fired", what)
		return time.Time{}
	}
}

func TestTimerFiresNeverEarly(t *testing.T) {
	tm := NewTimer()
	defer tm.Stop()
	for i := range 20 {
		d := time.Duration(i*150) * time.Microsecond
		due := time.Now().Add(d)
		tm.Reset(d)
		receive(t, tm, "the timer")
		if now := time.Now(); now.Before(due) {
			t.Fatalf("Reset(%v) fired %v early", d, due.Sub(now))
		}
	}
}

// A deadline earlier than the one the timerfd is set for must move it: without
// that, the 1ms timer would fire with the 200ms one.
func TestEarlierDeadlineFiresFirst(t *testing.T) {
	late, early := NewTimer(), NewTimer()
	defer late.Stop()
	late.Reset(200 * time.Millisecond)
	lateDue := time.Now().Add(200 * time.Millisecond)
	early.Reset(time.Millisecond)
	receive(t, early, "the 1ms timer")
	if !time.Now().Before(lateDue) {
		t.Fatal("the 1ms timer fired only with the 200ms one")
	}
	select {
	case <-late.C:
		t.Fatal("the 200ms timer fired with the 1ms one")
	default:
	}
}

// Stopping the timer the timerfd is set for leaves a wake with nothing due: the
// next deadline must still be set from it.
func TestStoppingTheFirstKeepsTheNext(t *testing.T) {
	first, next := NewTimer(), NewTimer()
	first.Reset(time.Millisecond)
	next.Reset(3 * time.Millisecond)
	first.Stop()
	receive(t, next, "the timer after a stopped one")
	select {
	case <-first.C:
		t.Fatal("a stopped timer fired")
	case <-time.After(5 * time.Millisecond):
	}
}

// A value sent before a Reset is never received after it (time.Timer's rule since
// Go 1.23), so a re-armed hedge does not fire at the old deadline.
func TestResetDropsAnUnreceivedValue(t *testing.T) {
	tm := NewTimer()
	defer tm.Stop()
	tm.Reset(100 * time.Microsecond)
	time.Sleep(2 * time.Millisecond) // it has fired; its value waits in the channel
	due := time.Now().Add(20 * time.Millisecond)
	tm.Reset(20 * time.Millisecond)
	receive(t, tm, "the re-armed timer")
	if now := time.Now(); now.Before(due) {
		t.Fatalf("received a value %v before the new deadline: the old arming's", due.Sub(now))
	}
}

func TestManyTimersEachFireOnceNeverEarly(t *testing.T) {
	const n = 200
	rng := rand.New(rand.NewPCG(1, 2))
	timers := make([]*Timer, n)
	due := make([]time.Time, n)
	for i := range timers {
		timers[i] = NewTimer()
		d := time.Duration(rng.IntN(20000)) * time.Microsecond
		due[i] = time.Now().Add(d)
		timers[i].Reset(d)
	}
	for i, tm := range timers {
		receive(t, tm, "a timer")
		if now := time.Now(); now.Before(due[i]) {
			t.Fatalf("timer %d fired %v early", i, due[i].Sub(now))
		}
	}
	time.Sleep(2 * time.Millisecond)
	for i, tm := range timers {
		select {
		case <-tm.C:
			t.Fatalf("timer %d fired twice", i)
		default:
		}
	}
}

// The heap's indexes must follow every Reset and Stop, or Remove takes the wrong
// timer out. Checked on a private scheduler with no timerfd: heap work alone.
func TestHeapIndexesFollowResetAndStop(t *testing.T) {
	s := &scheduler{base: time.Now()}
	timers := make([]*Timer, 30)
	for i := range timers {
		c := make(chan time.Time, 1)
		timers[i] = &Timer{C: c, c: c, index: -1}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	in := map[*Timer]bool{}
	for op := range 2000 {
		tm := timers[rng.IntN(len(timers))]
		s.mu.Lock()
		s.remove(tm)
		if rng.IntN(3) > 0 {
			tm.when = rng.Int64N(1e9)
			heap.Push(&s.heap, tm)
			in[tm] = true
		} else {
			delete(in, tm)
		}
		s.mu.Unlock()
		if len(s.heap) != len(in) {
			t.Fatalf("op %d: heap holds %d timers, want %d", op, len(s.heap), len(in))
		}
		for i, x := range s.heap {
			if x.index != i || !in[x] {
				t.Fatalf("op %d: heap[%d] has index %d (in use %v)", op, i, x.index, in[x])
			}
			if i > 0 && s.heap[(i-1)/2].when > x.when {
				t.Fatalf("op %d: heap order broken at %d", op, i)
			}
		}
	}
}

// The shared goroutine runs only while a timer is armed: stopping the last one,
// even an hour before its deadline, ends it (goleak, at the end of every test too).
func TestGoroutineEndsWithTheLastTimer(t *testing.T) {
	a, b := NewTimer(), NewTimer()
	a.Reset(time.Hour)
	b.Reset(time.Hour)
	a.Stop()
	b.Stop()
	goleak.VerifyNone(t)
	a.Reset(time.Millisecond) // and it starts again
	receive(t, a, "a timer after the goroutine ended")
	goleak.VerifyNone(t)
}

// A Reset far in the future (math.MaxInt64 as "never") overflowed the deadline to a
// negative one: it then sorted first and fired at the next wake, and the timerfd's
// deadline, negative too, kept every later timer from moving it, so none fired.
func TestHugeResetLeavesOtherTimersAlone(t *testing.T) {
	never, soon := NewTimer(), NewTimer()
	defer never.Stop()
	time.Sleep(time.Millisecond) // the scheduler's clock is past zero: now+MaxInt64 overflows
	never.Reset(math.MaxInt64)
	soon.Reset(time.Millisecond)
	receive(t, soon, "a 1ms timer beside Reset(math.MaxInt64)")
	select {
	case <-never.C:
		t.Fatal("Reset(math.MaxInt64) fired")
	default:
	}
}
