package finesleep

import (
	"os"
	"time"
)

// Sleeper sleeps one goroutine at a time on its own timerfd.
type Sleeper struct {
	fd int
	f  *os.File
}

// New returns nil when timerfd is unavailable; a nil Sleeper sleeps on the
// runtime timer.
func New() *Sleeper {
	fd, f, ok := openTimerfd()
	if !ok {
		return nil
	}
	return &Sleeper{fd: fd, f: f}
}

// SleepUntil returns at t, or soon after; never before.
func (s *Sleeper) SleepUntil(t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	if s == nil || setTimerfd(s.fd, d) != nil {
		time.Sleep(d)
		return
	}
	var buf [8]byte
	if _, err := s.f.Read(buf[:]); err != nil {
		time.Sleep(time.Until(t))
	}
}

// Close releases the timerfd. Nil-safe.
func (s *Sleeper) Close() {
	if s != nil {
		s.f.Close()
	}
}
