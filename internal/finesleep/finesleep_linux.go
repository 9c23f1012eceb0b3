package finesleep

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// Sleeper sleeps one goroutine at a time on its own timerfd.
type Sleeper struct {
	fd int
	f  *os.File // owns fd; never call f.Fd(), which would make it blocking
}

type itimerspec struct {
	interval, value syscall.Timespec
}

// New returns nil when timerfd is unavailable; a nil Sleeper sleeps on the
// runtime timer.
func New() *Sleeper {
	fd, _, errno := syscall.RawSyscall(syscall.SYS_TIMERFD_CREATE, 1 /* CLOCK_MONOTONIC */, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return nil
	}
	return &Sleeper{fd: int(fd), f: os.NewFile(fd, "timerfd")}
}

// SleepUntil returns at t, or soon after; never before.
func (s *Sleeper) SleepUntil(t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	if s == nil {
		time.Sleep(d)
		return
	}
	spec := itimerspec{value: syscall.NsecToTimespec(int64(d))}
	_, _, errno := syscall.RawSyscall6(syscall.SYS_TIMERFD_SETTIME, uintptr(s.fd), 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	var buf [8]byte
	if errno != 0 {
		time.Sleep(time.Until(t))
		return
	}
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
