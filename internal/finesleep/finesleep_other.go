//go:build !linux

package finesleep

import "time"

// Sleeper: on systems without timerfd, the runtime timer is all there is.
type Sleeper struct{}

// New returns nil: there is no finer sleep here.
func New() *Sleeper { return nil }

// SleepUntil returns at t, or after.
func (*Sleeper) SleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

// Close does nothing.
func (*Sleeper) Close() {}
