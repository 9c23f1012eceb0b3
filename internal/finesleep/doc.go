// Package finesleep sleeps to within microseconds where Go's runtime timers cannot.
//
// When a Go process is idle the runtime waits in epoll_wait, whose timeout is in
// whole milliseconds, so a timer fires up to 1ms late (golang/go#44343). A load
// generator then sends late, and a simulated replica whose profile says 2ms answers
// in 2–3ms. A Sleeper waits on a timerfd through the network poller instead: the fd
// becomes readable on time and wakes epoll at once, and the goroutine parked on it
// holds no P (nanosleep would hold one until sysmon took it back).
//
// Callers sleep the bulk of a long wait on a runtime timer, which can watch a
// context, and only the last Margin here.
package finesleep

import "time"

// Margin is how early a runtime timer should wake a caller before its deadline so
// that a Sleeper can take the rest: the timer's 1ms resolution when idle, with room
// for a busy scheduler.
const Margin = 1500 * time.Microsecond
