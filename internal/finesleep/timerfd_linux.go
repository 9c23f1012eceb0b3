package finesleep

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

type itimerspec struct {
	interval, value syscall.Timespec
}

// openTimerfd makes a non-blocking CLOCK_MONOTONIC timerfd, read through the
// network poller; ok is false where the kernel has none.
func openTimerfd() (fd int, f *os.File, ok bool) {
	r, _, errno := syscall.RawSyscall(syscall.SYS_TIMERFD_CREATE, 1 /* CLOCK_MONOTONIC */, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return 0, nil, false
	}
	return int(r), os.NewFile(r, "timerfd"), true // never call f.Fd(): it would make fd blocking
}

// setTimerfd arms fd to expire d from now, d > 0 (zero would disarm it).
func setTimerfd(fd int, d time.Duration) error {
	spec := itimerspec{value: syscall.NsecToTimespec(int64(d))}
	_, _, errno := syscall.RawSyscall6(syscall.SYS_TIMERFD_SETTIME, uintptr(fd), 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
