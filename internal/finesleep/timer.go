package finesleep

import (
	"container/heap"
	"math"
	"os"
	"sync"
	"time"
)

// Timer is a one-shot timer that fires within microseconds of its deadline, where a
// runtime timer in an idle process fires up to 1ms late: every Timer of the process
// shares one timerfd, set for the earliest deadline and read by one goroutine, which
// runs only while some Timer is armed (none outlives the requests it times). Its
// channel behaves as a time.Timer's does since Go 1.23: after Stop or Reset returns,
// no value from an earlier arming is received. Where there is no timerfd it is a
// time.Timer.
//
// The cost is a lock and a heap operation per Reset and Stop, a system call only when
// a deadline comes before every other, and a wake of the shared goroutine per
// deadline reached (a stopped timer's included, once), not per Reset; when the last
// armed Timer stops, a system call to end the goroutine, and a new one on the next
// Reset.
//
// Not for testing/synctest: the timerfd keeps real time, not the bubble's. Make one
// with NewTimer; the zero Timer is not ready for use.
type Timer struct {
	// C receives the time when the timer fires.
	C <-chan time.Time

	c     chan time.Time
	rt    *time.Timer // the fallback, when there is no timerfd
	when  int64       // deadline on the scheduler's clock
	index int         // in the scheduler's heap; -1 when not in it
}

// NewTimer returns a stopped Timer: Reset arms it.
func NewTimer() *Timer {
	if s := sharedScheduler(); s == nil {
		return NewRuntimeTimer()
	}
	c := make(chan time.Time, 1)
	return &Timer{C: c, c: c, index: -1}
}

// NewRuntimeTimer returns a stopped Timer on the runtime timer alone, for callers on
// testing/synctest's fake clock.
func NewRuntimeTimer() *Timer {
	rt := time.NewTimer(time.Hour)
	rt.Stop()
	return &Timer{C: rt.C, rt: rt, index: -1}
}

// Reset arms the timer to fire d from now, replacing any earlier arming.
func (t *Timer) Reset(d time.Duration) {
	if t.rt != nil {
		t.rt.Reset(d)
		return
	}
	s := sched
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now() // under mu: a wait for the lock must not delay the fd's expiry
	s.unlink(t)    // no wake to end run: t goes straight back in
	t.when = now + int64(max(d, 0))
	if t.when < now { // now+d overflowed (d near math.MaxInt64): never, in effect
		t.when = math.MaxInt64
	}
	heap.Push(&s.heap, t)
	if s.armedAt == 0 || t.when < s.armedAt {
		s.arm(t.when, now)
	}
	if !s.running {
		s.running = true
		go s.run()
	}
}

// Stop disarms the timer; nothing is received from it until the next Reset.
func (t *Timer) Stop() {
	if t.rt != nil {
		t.rt.Stop()
		return
	}
	s := sched
	s.mu.Lock()
	s.remove(t)
	s.mu.Unlock()
}

var (
	schedOnce sync.Once
	sched     *scheduler // nil: no timerfd here
)

func sharedScheduler() *scheduler {
	schedOnce.Do(func() {
		fd, f, ok := openTimerfd()
		if !ok {
			return
		}
		sched = &scheduler{fd: fd, f: f, base: time.Now()}
	})
	return sched
}

// scheduler owns the shared timerfd. Timers fire under mu, and Reset and Stop take
// mu, which is what keeps a stale value out of a re-armed timer's channel.
type scheduler struct {
	fd   int
	f    *os.File
	base time.Time // the clock's zero; now() is monotonic time since

	mu      sync.Mutex
	heap    timerHeap
	armedAt int64 // the deadline the timerfd is set for; 0: not set
	running bool  // a run goroutine reads the timerfd
}

func (s *scheduler) now() int64 { return int64(time.Since(s.base)) }

// run reads the timerfd while timers are armed: one wake per deadline reached.
func (s *scheduler) run() {
	var buf [8]byte
	for {
		if _, err := s.f.Read(buf[:]); err != nil {
			time.Sleep(time.Millisecond) // cannot happen: nothing closes the fd; keep time coarsely
		}
		if !s.fire() {
			return
		}
	}
}

// fire sends to every timer whose deadline has come and sets the timerfd for the
// next one. A deadline whose timer was stopped or reset meanwhile finds nothing.
// It reports whether timers remain; if not, run ends, and the next Reset starts it.
func (s *scheduler) fire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.armedAt = 0
	fired := time.Now()
	for len(s.heap) > 0 && s.heap[0].when <= now {
		t := heap.Pop(&s.heap).(*Timer)
		select {
		case t.c <- fired:
		default: // the channel holds one unreceived value already
		}
	}
	if len(s.heap) == 0 {
		s.running = false
		return false
	}
	s.arm(s.heap[0].when, now)
	return true
}

// arm sets the timerfd for when, under mu. The set cannot fail on a valid fd with a
// positive time; if it did, a runtime timer fires the deadline, so none is lost (and
// should that fire find the heap empty while run still reads, a second run could
// start: a cost of a path that cannot be taken, not worth code).
func (s *scheduler) arm(when, now int64) {
	d := time.Duration(max(when-now, 1))
	if err := setTimerfd(s.fd, d); err != nil {
		time.AfterFunc(d, func() { s.fire() })
	}
	s.armedAt = when
}

// remove takes t out of the heap and drains its channel, under mu. When that empties
// the heap, the timerfd is set to expire at once, so run wakes, finds nothing and
// ends instead of waiting for a deadline nobody waits for.
func (s *scheduler) remove(t *Timer) {
	if s.unlink(t) && len(s.heap) == 0 && s.running {
		now := s.now()
		s.arm(now, now)
	}
}

// unlink takes t out of the heap, if there, and drains its channel, under mu.
func (s *scheduler) unlink(t *Timer) (was bool) {
	if t.index >= 0 {
		heap.Remove(&s.heap, t.index)
		was = true
	}
	select {
	case <-t.c:
	default:
	}
	return was
}

// timerHeap orders timers by deadline, each knowing its index for Remove.
type timerHeap []*Timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].when < h[j].when }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*Timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
