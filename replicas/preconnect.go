package replicas

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The spare-connection heuristics: when and for how long a pool keeps a connection
// dialled ahead of need. The thresholds are named here, with why they are what they are.
const (
	// activeWithin tells a connection closed in use (a cancelled loser, a reset, a
	// server's Connection: close) from one closed after idling: only the first is
	// replaced ahead of need. A connection whose request is still unanswered is in use
	// however long ago it was sent.
	activeWithin = time.Second
	// spareMaxAge bounds how long a spare waits before it is closed. A replica may drop
	// a connection that sends no request (Go's ReadHeaderTimeout, HAProxy's timeout
	// http-request, often 5-10s), and net/http does not retry a request that fails on
	// a connection's first use: the spare is for the next few requests only.
	spareMaxAge = 2 * time.Second
)

// preconnector dials a spare connection in the background when a connection closes
// in use, and hands it to the next dial. HTTP/1.1 cannot cancel a request without
// closing its connection, so every cancelled loser (a quorum's slowest replica, a
// parallel read's second answer, a beaten hedge) would otherwise make the next
// request to that replica pay a connect, beside its other attempts, on the request
// path. Envoy's preconnect (per_upstream_preconnect_ratio) answers the same cost.
//
// It holds at most one spare and runs at most one dial at a time; a replica that
// refuses connections never gets a spare, so nothing loops.
type preconnector struct {
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	timeout time.Duration
	now     func() time.Time

	base time.Time // stamps are durations since base, so a wall-clock step cannot skew them

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
	return &trackedConn{Conn: c, pre: p, addr: addr}
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
// was in use.
type trackedConn struct {
	net.Conn
	pre       *preconnector
	addr      string
	lastWrite atomic.Int64 // preconnector stamps; 0: never written
	lastRead  atomic.Int64 // of a read that returned bytes
	closed    atomic.Bool
}

func (c *trackedConn) Write(b []byte) (int, error) {
	c.lastWrite.Store(c.pre.stamp())
	return c.Conn.Write(b)
}

func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.lastRead.Store(c.pre.stamp())
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
	if !c.closed.Swap(true) && c.inUse() {
		c.pre.replace(c.addr)
	}
	return c.Conn.Close()
}
