package loadtest

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// fineSleeper sleeps precisely on a timerfd read through Go's network poller.
//
// Why not a runtime timer: when the process is idle the runtime waits in
// epoll with millisecond resolution, so timers fire up to 1ms late and every
// request would be sent late by that much. Why not nanosleep: a goroutine in a
// blocking system call holds its P until sysmon takes it back (up to 10ms when
// idle), which stalls the other workers on a 2-core machine. A timerfd becomes
// readable on time and wakes epoll at once, and a goroutine parked on it holds
// no P.
type fineSleeper struct {
	fd int
	f  *os.File // owns fd; never call f.Fd(), which would make it blocking
}

type itimerspec struct {
	interval, value syscall.Timespec
}

// newFineSleeper returns nil when timerfd is unavailable; callers then sleep
// on the runtime timer alone.
func newFineSleeper() *fineSleeper {
	fd, _, errno := syscall.RawSyscall(syscall.SYS_TIMERFD_CREATE, 1 /* CLOCK_MONOTONIC */, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return nil
	}
	return &fineSleeper{fd: int(fd), f: os.NewFile(fd, "timerfd")}
}

// sleepUntil returns at t, or soon after.
func (s *fineSleeper) sleepUntil(t time.Time) {
	d := time.Until(t)
	if d <= 0 {
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

func (s *fineSleeper) close() { s.f.Close() }
