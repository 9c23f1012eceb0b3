// Package finesleep has a timer that fires within microseconds of its deadline, where
// Go's runtime timers cannot.
//
// When a Go process is idle the runtime waits in epoll_wait, whose timeout is in
// whole milliseconds, so a timer fires up to 1ms late (golang/go#44343). A hedge
// meant at 3ms then goes at 3–4ms, a load generator sends late, and a simulated
// replica whose profile says 2ms answers in 2–3ms. A Timer waits on a timerfd
// through the network poller instead: the fd becomes readable on time and wakes
// epoll at once, and the goroutine parked on it holds no P (nanosleep would hold one
// until sysmon took it back). Its channel can be selected on with a context, so a
// wait stays cancellable throughout.
package finesleep
