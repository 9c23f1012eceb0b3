package replicas

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// pool is one replica host's connections: an http.Transport whose dials go through a
// preconnector.
type pool struct {
	*http.Transport
	pre *preconnector
}

// newPool builds a replica's connection pool from its set's settings; warm-up fills
// the same pool requests use.
func newPool(connectTimeout time.Duration, warmConnections int) *pool {
	d := &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}
	pre := newPreconnector(d.DialContext, connectTimeout, time.Now)
	return &pool{pre: pre, Transport: &http.Transport{
		// Replicas are dialled directly: an environment proxy would add a hop and hide
		// the replica's own latency from its histogram.
		Proxy:       nil,
		DialContext: pre.DialContext,
		// Keep at least the warm connections idle, and enough for bursts that a
		// request does not pay a connect.
		MaxIdleConnsPerHost: max(16, warmConnections),
		// No cap: the engine's budget bounds extra attempts; a cap here would queue
		// them invisibly inside the transport.
		MaxConnsPerHost: 0,
		IdleConnTimeout: 90 * time.Second,
		// HTTP/1.1: a connection carries one attempt at a time, so warm_connections and
		// the idle pool count what they say and attempts do not share one TCP stream's
		// head-of-line stalls.
		ForceAttemptHTTP2: false,
		// Bytes pass through untouched; the client negotiates its own encoding.
		DisableCompression: true,
		// The engine bounds each attempt with its own timeout from measured latency.
		ResponseHeaderTimeout: 0,
		TLSHandshakeTimeout:   connectTimeout,
	}}
}

// Close stops preconnecting and closes the idle connections, in that order so that
// closing them does not dial replacements. Connections in use close when their
// requests end; the pool stays usable.
func (p *pool) Close() {
	p.pre.Close()
	p.CloseIdleConnections()
}

const (
	// activeWithin tells a connection closed in use (a cancelled loser, a reset, a
	// server's Connection: close) from one closed after idling: only the first is
	// replaced ahead of need.
	activeWithin = time.Second
	// spareMaxAge bounds how long a spare waits; an older one may have been dropped by
	// the replica or a middlebox, so a request dials afresh instead.
	spareMaxAge = 10 * time.Second
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

	mu        sync.Mutex
	spare     net.Conn
	spareAddr string
	spareAt   time.Time
	dialing   bool
	closed    bool
	stop      context.CancelFunc // cancels a background dial on Close
	ctx       context.Context
	wg        sync.WaitGroup
}

func newPreconnector(dial func(ctx context.Context, network, addr string) (net.Conn, error), timeout time.Duration, now func() time.Time) *preconnector {
	ctx, stop := context.WithCancel(context.Background())
	return &preconnector{dial: dial, timeout: timeout, now: now, ctx: ctx, stop: stop}
}

// DialContext is the transport's dial: a live spare for addr if there is one, else a
// new connection.
func (p *preconnector) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	p.mu.Lock()
	spare, fresh := p.spare, p.spare != nil && p.spareAddr == addr && p.now().Sub(p.spareAt) < spareMaxAge
	p.spare = nil
	p.mu.Unlock()
	if spare != nil {
		if fresh && network == "tcp" && alive(spare) {
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
	tc := &trackedConn{Conn: c, pre: p, addr: addr}
	tc.lastWrite.Store(p.now().UnixNano())
	return tc
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
		p.spare, p.spareAddr, p.spareAt = c, addr, p.now()
	}()
}

// Close cancels a background dial, waits for it, and closes the spare. Later dials
// still work, without spares.
func (p *preconnector) Close() {
	p.mu.Lock()
	p.closed = true
	spare := p.spare
	p.spare = nil
	p.mu.Unlock()
	p.stop()
	p.wg.Wait()
	if spare != nil {
		spare.Close()
	}
}

// trackedConn notes when it last carried a request, so its Close can tell whether it
// was in use.
type trackedConn struct {
	net.Conn
	pre       *preconnector
	addr      string
	lastWrite atomic.Int64 // Unix ns
	closed    atomic.Bool
}

func (c *trackedConn) Write(b []byte) (int, error) {
	c.lastWrite.Store(c.pre.now().UnixNano())
	return c.Conn.Write(b)
}

func (c *trackedConn) Close() error {
	if !c.closed.Swap(true) && c.pre.now().UnixNano()-c.lastWrite.Load() < int64(activeWithin) {
		c.pre.replace(c.addr)
	}
	return c.Conn.Close()
}
