package replicas

import (
	"net"
	"net/http"
	"time"
)

// newTransport builds a replica's connection pool from its set's settings; warm-up
// fills the same pool requests use.
func newTransport(connectTimeout time.Duration, warmConnections int) *http.Transport {
	d := &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		// Replicas are dialled directly: an environment proxy would add a hop and hide
		// the replica's own latency from its histogram.
		Proxy:       nil,
		DialContext: d.DialContext,
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
	}
}
