package finesleep

import "time"

// Pool lends Sleepers to concurrent goroutines (a simulated replica's handlers),
// keeping up to its capacity open between uses: a timerfd costs three system calls
// and a poller registration to make and drop, and a sleep only two.
type Pool struct {
	free chan *Sleeper
}

// NewPool keeps up to keep idle Sleepers.
func NewPool(keep int) *Pool { return &Pool{free: make(chan *Sleeper, keep)} }

// SleepUntil sleeps until t on a pooled Sleeper (a new one when none is idle).
func (p *Pool) SleepUntil(t time.Time) {
	if !time.Now().Before(t) {
		return
	}
	var s *Sleeper
	select {
	case s = <-p.free:
	default:
		s = New()
	}
	s.SleepUntil(t)
	if s == nil {
		return
	}
	select {
	case p.free <- s:
	default:
		s.Close()
	}
}

// Close releases the idle Sleepers. Sleeps still under way return theirs to the
// pool, where they stay open until the process ends: call Close when nothing
// sleeps any more.
func (p *Pool) Close() {
	for {
		select {
		case s := <-p.free:
			s.Close()
		default:
			return
		}
	}
}
