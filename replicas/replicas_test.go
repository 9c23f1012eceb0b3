package replicas

import (
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/latency"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is an injected clock that tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func testReplica(name string, clk *fakeClock) *Replica {
	u := &url.URL{Scheme: "http", Host: "127.0.0.1:1"}
	return newReplica("test", name, u, latency.NewWindow(10*time.Second, 6, clk.Now), clk.Now)
}

// feed ends n attempts on r with the given latency and verdict.
func feed(r *Replica, n int, d time.Duration, o Verdict) {
	for range n {
		r.Begin()(d, o)
	}
}
