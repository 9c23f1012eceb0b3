//go:build !linux

package loadtest

import "time"

// fineSleeper: on systems without timerfd, the runtime timer is all there is.
type fineSleeper struct{}

func newFineSleeper() *fineSleeper { return nil }

func (*fineSleeper) sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

func (*fineSleeper) close() {}
