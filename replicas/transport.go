package replicas

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hedgegate/hedgegate/config"
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

// pool is one replica host's connections, dials counted. It sends with hedgegate's
// own HTTP/1.1 client (h1client.go) for plain http replicas speaking HTTP/1.1, or
// with net/http's Transport: for https (TLS), for HTTP/2 (h2c, h2), and when the set
// asks for it (client: net/http), so the two can be compared on one load.
type pool struct {
	rt    http.RoundTripper // h1 or std
	h1    *h1Client
	std   *http.Transport
	pre   *preconnector
	dials atomic.Uint64 // connections dialled, for requests or as spares
}

// poolSettings are what a pool is built from: its set's settings and its replica's
// scheme.
type poolSettings struct {
	connect  time.Duration
	warm     int
	scheme   string // http or https
	protocol string // config.ProtocolHTTP1, ProtocolH2C or ProtocolH2
	client   string // config.ClientAuto, ClientHedgegate or ClientNetHTTP
}

// ownClient says whether the pool uses hedgegate's HTTP/1.1 client.
func (s poolSettings) ownClient() bool {
	return s.scheme == "http" && (s.protocol == "" || s.protocol == config.ProtocolHTTP1) &&
		s.client != config.ClientNetHTTP
}

// newPool builds a replica's connection pool from its set's settings; warm-up fills
// the same pool requests use. Only plain-http HTTP/1.1 pools keep spares: over TLS a
// spare would save the connect but not the handshake, and net/http writes TLS's
// close_notify just before closing, which would make every idle close look in use;
// over HTTP/2 a cancelled attempt resets its stream and the connection stays.
//
// The idle pool is sized by the load, not by a constant: a connection that finishes
// its request stays idle (up to maxIdlePerHost), the most recently used idle
// connection is handed out first, and one left unused for idleTimeout closes. So the
// pool holds about the most attempts the replica had in flight at once over the last
// idleTimeout, and a steady load dials nothing. A fixed small cap (it was 16) closes a
// connection each time more than that many finish together, and the next burst dials
// them again: 5% of the requests of a 64-connection closed loop over three replicas
// dialled.
func newPool(s poolSettings) *pool {
	p := &pool{}
	d := &net.Dialer{Timeout: s.connect, KeepAlive: 30 * time.Second}
	counted := func(ctx context.Context, network, addr string) (net.Conn, error) {
		p.dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	dial := counted
	http1 := s.protocol == "" || s.protocol == config.ProtocolHTTP1
	if s.scheme == "http" && http1 {
		p.pre = newPreconnector(counted, s.connect, time.Now)
		dial = p.pre.DialContext
	}
	if s.ownClient() {
		// See above: what the load opened stays, the warm connections included.
		p.h1 = newH1Client(dial, max(maxIdlePerHost, s.warm))
		p.rt = p.h1
		return p
	}
	p.std = &http.Transport{
		// Replicas are dialled directly: an environment proxy would add a hop and hide
		// the replica's own latency from its histogram.
		Proxy:       nil,
		DialContext: dial,
		// See above: what the load opened stays, the warm connections included.
		MaxIdleConnsPerHost: max(maxIdlePerHost, s.warm),
		// No cap: the engine's budget bounds extra attempts; a cap here would queue
		// them invisibly inside the transport.
		MaxConnsPerHost: 0,
		IdleConnTimeout: idleTimeout,
		// Bytes pass through untouched; the client negotiates its own encoding.
		DisableCompression: true,
		// The engine bounds each attempt with its own timeout from measured latency.
		ResponseHeaderTimeout: 0,
		TLSHandshakeTimeout:   s.connect,
		Protocols:             protocols(s.protocol),
		HTTP2: &http.HTTP2Config{
			// A connection that carries every attempt to the replica must not hang
			// silently: ping it after this long without a frame, drop it when the ping
			// goes unanswered.
			SendPingTimeout: h2PingAfter,
			PingTimeout:     h2PingTimeout,
		},
	}
	p.rt = p.std
	return p
}

// h2PingAfter and h2PingTimeout check an HTTP/2 connection to a replica that has been
// silent: one dead TCP connection would otherwise stall every attempt multiplexed on it
// until each one's own timeout.
const (
	h2PingAfter   = 15 * time.Second
	h2PingTimeout = 5 * time.Second
)

// protocols is what a pool's net/http Transport speaks. HTTP/1.1: one attempt per
// connection at a time, so warm_connections and the idle pool count what they say and
// attempts do not share one TCP stream's head-of-line stalls. h2c: HTTP/2 with prior
// knowledge over plain TCP. h2: HTTP/2 negotiated by ALPN over TLS, and nothing else: a
// replica that does not agree to h2 fails the attempt rather than quietly speaking
// HTTP/1.1.
func protocols(protocol string) *http.Protocols {
	p := new(http.Protocols)
	switch protocol {
	case config.ProtocolH2C:
		p.SetUnencryptedHTTP2(true)
	case config.ProtocolH2:
		p.SetHTTP2(true)
	default:
		p.SetHTTP1(true)
	}
	return p
}

// RoundTrip sends req with the pool's client.
func (p *pool) RoundTrip(req *http.Request) (*http.Response, error) { return p.rt.RoundTrip(req) }

// CloseIdleConnections closes the connections no request uses.
func (p *pool) CloseIdleConnections() {
	if p.h1 != nil {
		p.h1.CloseIdleConnections()
	} else {
		p.std.CloseIdleConnections()
	}
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

// checkProtocol rejects a protocol or client config does not know ("" is the default).
func checkProtocol(cfg *config.ReplicaSet) error {
	switch cfg.Protocol {
	case "", config.ProtocolHTTP1, config.ProtocolH2C, config.ProtocolH2:
	default:
		return fmt.Errorf("unknown protocol %q", cfg.Protocol)
	}
	switch cfg.Client {
	case "", config.ClientAuto, config.ClientNetHTTP:
	case config.ClientHedgegate:
		if cfg.Protocol == config.ProtocolH2C || cfg.Protocol == config.ProtocolH2 {
			return fmt.Errorf("client hedgegate speaks HTTP/1.1 only, not protocol %s", cfg.Protocol)
		}
	default:
		return fmt.Errorf("unknown client %q", cfg.Client)
	}
	return nil
}
