package replicas

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

const (
	// maxIdlePerHost is a ceiling, not the size: the idle pool keeps every connection
	// the load opened (see newPool). It only bounds what a burst leaves behind, at the
	// default limits.max_inflight (each request has at most one attempt per replica).
	maxIdlePerHost = 4096
	// idleTimeout closes a connection no request took for that long: how fast the pool
	// shrinks back after a burst.
	idleTimeout = 90 * time.Second
)

// pool is one replica host's connections: an http.Transport whose dials go through a
// preconnector (plain http) and are counted.
type pool struct {
	*http.Transport
	pre   *preconnector
	dials atomic.Uint64 // connections dialled, for requests or as spares
}

// newPool builds a replica's connection pool from its set's settings; warm-up fills
// the same pool requests use. Only plain-http pools keep spares: over TLS a spare
// would save the connect but not the handshake, and net/http writes TLS's
// close_notify just before closing, which would make every idle close look in use.
//
// The idle pool is sized by the load, not by a constant: a connection that finishes
// its request stays idle (up to maxIdlePerHost), net/http hands out the most recently
// used idle connection first, and one left unused for idleTimeout closes. So the pool
// holds about the most attempts the replica had in flight at once over the last
// idleTimeout, and a steady load dials nothing. A fixed small cap (it was 16) closes a
// connection each time more than that many finish together, and the next burst dials
// them again: 5% of the requests of a 64-connection closed loop over three replicas
// dialled.
func newPool(connectTimeout time.Duration, warmConnections int, spares bool) *pool {
	p := &pool{}
	d := &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}
	counted := func(ctx context.Context, network, addr string) (net.Conn, error) {
		p.dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	dial := counted
	if spares {
		p.pre = newPreconnector(counted, connectTimeout, time.Now)
		dial = p.pre.DialContext
	}
	p.Transport = &http.Transport{
		// Replicas are dialled directly: an environment proxy would add a hop and hide
		// the replica's own latency from its histogram.
		Proxy:       nil,
		DialContext: dial,
		// See above: what the load opened stays, the warm connections included.
		MaxIdleConnsPerHost: max(maxIdlePerHost, warmConnections),
		// No cap: the engine's budget bounds extra attempts; a cap here would queue
		// them invisibly inside the transport.
		MaxConnsPerHost: 0,
		IdleConnTimeout: idleTimeout,
		// HTTP/1.1: a connection carries one attempt at a time, so warm_connections and
		// the idle pool count what they say and attempts do not share one TCP stream's
		// head-of-line stalls.
		ForceAttemptHTTP2: false,
		// Bytes pass through untouched; the client negotiates its own encoding.
		DisableCompression: true,
		// The engine bounds each attempt with its own timeout from measured latency.
		ResponseHeaderTimeout: 0,
		TLSHandshakeTimeout:   connectTimeout,
	}
	return p
}

// Dials returns how many connections the pool has dialled, spares included.
func (p *pool) Dials() uint64 { return p.dials.Load() }

// Close stops preconnecting and closes the idle connections, in that order so that
// closing them does not dial replacements. Connections in use close when their
// requests end; the pool stays usable.
func (p *pool) Close() {
	if p.pre != nil {
		p.pre.Close()
	}
	p.CloseIdleConnections()
}
