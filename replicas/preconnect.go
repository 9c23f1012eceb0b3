package replicas

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The spare-connection heuristics. HTTP/1.1 cannot cancel a request without closing
// its connection, so every cancelled loser (a quorum's slowest replica, a parallel
// read's second answer, a beaten hedge) takes a connection from its replica's pool. A
// pool with idle connections left loses nothing by it; a pool with none would make the
// next request to that replica pay a connect on its own path, beside its other
// attempts. So when a connection closes in use and the pool has no idle connection
// left, the preconnector dials one spare in the background and hands it to the
// transport's next dial. Envoy's preconnect (per_upstream_preconnect_ratio) answers
// the same cost.
//
// Bounds, so nothing loops or piles up: at most one spare per pool and one background
// dial at a time; a replica that refuses connections never gets a spare; a spare
// unused for spareMaxAge is closed; only plain-http pools have a preconnector (see
// newPool).
const (
	// activeWithin tells a connection closed in use (a cancelled loser, a reset, a
	// server's Connection: close) from one closed after idling: only the first is
	// replaced ahead of need. A connection whose request is still unanswered is in use
	// however long ago it was sent; one answered within activeWithin counts as in use
	// too, since a replica that closes after answering (Connection: close) closes
	// within milliseconds, while net/http closes idle connections only after
	// IdleConnTimeout.
	activeWithin = time.Second
	// spareMaxAge bounds how long a spare waits before it is closed. A replica may drop
	// a connection that sends no request (Go's ReadHeaderTimeout, HAProxy's timeout
	// http-request, often 5-10s), and net/http does not retry a request that fails on
	// a connection's first use: the spare is for the next few requests only.
	spareMaxAge = 2 * time.Second
)

// preconnector dials a spare connection in the background when a connection closes
// in use while no other connection of the pool is idle, and hands it to the next
// dial. It also counts the pool's open and busy connections, which is how it knows.
type preconnector struct {
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	timeout time.Duration
	now     func() time.Time

	base time.Time // stamps are durations since base, so a wall-clock step cannot skew them

	open atomic.Int64 // tracked connections not closed yet
	busy atomic.Int64 // of those, the ones with a request sent and not answered yet

	mu        sync.Mutex
	spare     net.Conn
	spareAddr string
	spareTTL  *time.Timer // closes an unused spare after spareMaxAge
	dialing   bool
	closed    bool
	stop      context.CancelFunc // cancels a background dial on Close
	ctx       context.Context
	wg        sync.WaitGroup
}

func newPreconnector(dial func(ctx context.Context, network, addr string) (net.Conn, error), timeout time.Duration, now func() time.Time) *preconnector {
	ctx, stop := context.WithCancel(context.Background())
	return &preconnector{dial: dial, timeout: timeout, now: now, base: now(), ctx: ctx, stop: stop}
}

// stamp is never 0, which marks "never written".
func (p *preconnector) stamp() int64 { return int64(p.now().Sub(p.base)) + 1 }

// takeSpareLocked removes the spare, and its timer, from p.
func (p *preconnector) takeSpareLocked() net.Conn {
	c := p.spare
	p.spare = nil
	if p.spareTTL != nil {
		p.spareTTL.Stop()
		p.spareTTL = nil
	}
	return c
}

// DialContext is the transport's dial: a live spare for addr if there is one, else a
// new connection.
func (p *preconnector) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	p.mu.Lock()
	usable := p.spareAddr == addr
	spare := p.takeSpareLocked()
	p.mu.Unlock()
	if spare != nil {
		if usable && network == "tcp" && alive(spare) {
			return p.track(spare, addr), nil
		}
		spare.Close()
	}
	c, err := p.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return p.track(c, addr), nil
}

func (p *preconnector) track(c net.Conn, addr string) net.Conn {
	p.open.Add(1)
	return &trackedConn{Conn: c, pre: p, addr: addr}
}

// closedInUse is told that a connection closed while in use; the counts no longer
// include it. It replaces the connection only when the pool has no idle one left: an
// idle connection serves the next request as well as a spare would, and a spare it
// does not take is a dial and a close for nothing.
func (p *preconnector) closedInUse(addr string) {
	if p.open.Load() > p.busy.Load() {
		return
	}
	p.replace(addr)
}

// replace starts a background dial to addr unless a spare is ready or on its way.
func (p *preconnector) replace(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.dialing || p.spare != nil {
		return
	}
	p.dialing = true
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
		c, err := p.dial(ctx, "tcp", addr)
		cancel()
		p.mu.Lock()
		defer p.mu.Unlock()
		p.dialing = false
		if err != nil {
			return
		}
		if p.closed || p.spare != nil {
			c.Close()
			return
		}
		p.spare, p.spareAddr = c, addr
		p.spareTTL = time.AfterFunc(spareMaxAge, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.spare == c {
				p.takeSpareLocked().Close()
			}
		})
	}()
}

// Close cancels a background dial, waits for it, and closes the spare. Later dials
// still work, without spares.
func (p *preconnector) Close() {
	p.mu.Lock()
	p.closed = true
	spare := p.takeSpareLocked()
	p.mu.Unlock()
	p.stop()
	p.wg.Wait()
	if spare != nil {
		spare.Close()
	}
}

// trackedConn notes when it last sent and received, so its Close can tell whether it
// was in use, and keeps its preconnector's busy count.
type trackedConn struct {
	net.Conn
	pre       *preconnector
	addr      string
	lastWrite atomic.Int64 // preconnector stamps; 0: never written
	lastRead  atomic.Int64 // of a read that returned bytes
	busy      atomic.Bool  // written since the last read that returned bytes
	closed    atomic.Bool
}

func (c *trackedConn) Write(b []byte) (int, error) {
	c.lastWrite.Store(c.pre.stamp())
	if c.busy.CompareAndSwap(false, true) {
		c.pre.busy.Add(1)
	}
	return c.Conn.Write(b)
}

func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.lastRead.Store(c.pre.stamp())
		if c.busy.CompareAndSwap(true, false) {
			c.pre.busy.Add(-1)
		}
	}
	return n, err
}

// inUse: a request is unanswered (sent after the last bytes received), or the
// connection carried one within activeWithin.
func (c *trackedConn) inUse() bool {
	w := c.lastWrite.Load()
	if w == 0 {
		return false
	}
	return w > c.lastRead.Load() || c.pre.stamp()-w < int64(activeWithin)
}

func (c *trackedConn) Close() error {
	if !c.closed.Swap(true) {
		inUse := c.inUse()
		if c.busy.Swap(false) {
			c.pre.busy.Add(-1)
		}
		c.pre.open.Add(-1)
		if inUse {
			c.pre.closedInUse(c.addr)
		}
	}
	return c.Conn.Close()
}
