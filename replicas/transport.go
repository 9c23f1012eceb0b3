package replicas

import (
	"net"
	"net/http"
	"time"
)

// pool is one replica host's connections: an http.Transport whose dials go through a
// preconnector.
type pool struct {
	*http.Transport
	pre *preconnector
}

// newPool builds a replica's connection pool from its set's settings; warm-up fills
// the same pool requests use. Only plain-http pools keep spares: over TLS a spare
// would save the connect but not the handshake, and net/http writes TLS's
// close_notify just before closing, which would make every idle close look in use.
func newPool(connectTimeout time.Duration, warmConnections int, spares bool) *pool {
	d := &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}
	dial := d.DialContext
	var pre *preconnector
	if spares {
		pre = newPreconnector(d.DialContext, connectTimeout, time.Now)
		dial = pre.DialContext
	}
	return &pool{pre: pre, Transport: &http.Transport{
		// Replicas are dialled directly: an environment proxy would add a hop and hide
		// the replica's own latency from its histogram.
		Proxy:       nil,
		DialContext: dial,
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
	if p.pre != nil {
		p.pre.Close()
	}
	p.CloseIdleConnections()
}
