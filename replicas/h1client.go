package replicas

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// h1Client is hedgegate's own HTTP/1.1 client for one replica host: an
// http.RoundTripper over connections it owns. net/http's Transport gives every
// connection two goroutines (writeLoop, readLoop) and hands each request and answer
// between them and the caller: under a closed loop those hand-offs were 28% of the
// gateway's CPU. Here the caller's goroutine writes the request and reads the answer's
// headers itself, and whoever reads the body reads it straight off the connection.
//
// The framing of answers is the standard library's: http.ReadResponse from the
// connection's own bufio.Reader. A request goes into a pooled bufio.Writer through
// writeRequest (h1write.go): the bytes (*http.Request).Write would send for the
// bodiless keep-alive requests the engine sends, and Request.Write itself for any
// other. What this file adds is the connection's life:
//
//   - cancellation closes the connection (context.AfterFunc on the request's
//     context), while the headers or the body are read alike;
//   - a connection goes back to the idle pool only after its body was read to its end
//     (io.EOF from the framing), with nothing read beyond it, and when neither side
//     said Connection: close; anything else closes it;
//   - idle connections are reused newest first (LIFO), so a pool shrinks back to the
//     load; one idle for idleTimeout is closed;
//   - before reuse, a connection is checked for bytes or EOF waiting on it (alive):
//     a replica that closed it, or sent bytes nobody asked for, is not sent a request;
//   - a request that fails on a reused connection before any byte of the answer came
//     is sent once more on a new connection when it is replayable, as net/http does:
//     the replica may have closed the connection as the request went out;
//   - the status line and headers, 1xx answers included, are bounded by
//     maxResponseHeaderBytes.
//
// It speaks plain HTTP/1.1 only: https replicas and HTTP/2 go through net/http's
// Transport (see newPool).
type h1Client struct {
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	now         func() time.Time
	idleTimeout time.Duration
	maxIdle     int

	mu        sync.Mutex
	idle      []*h1Conn // LIFO: the most recently idled last
	closeIdle bool      // set by CloseIdleConnections until the next request
	reaper    *time.Timer
}

// maxResponseHeaderBytes bounds what a replica may send before its final answer's
// body: status lines and headers of the 1xx answers and the final one. net/http's
// Transport allows 10 MiB; a read service's answer headers are a few hundred bytes,
// and a replica that sends more than this is broken or hostile.
const maxResponseHeaderBytes = 1 << 20

// bufSize is each connection's read buffer and the pooled write buffers' size.
const bufSize = 4 << 10

var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufSize) }}

func newH1Client(dial func(ctx context.Context, network, addr string) (net.Conn, error), maxIdle int) *h1Client {
	return &h1Client{dial: dial, now: time.Now, idleTimeout: idleTimeout, maxIdle: maxIdle}
}

var _ http.RoundTripper = (*h1Client)(nil)

// RoundTrip sends req on an idle connection or a new one and returns the answer with
// its body streaming from the connection.
func (c *h1Client) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || req.URL.Scheme != "http" || req.URL.Host == "" {
		closeRequestBody(req)
		return nil, fmt.Errorf("replicas: hedgegate's HTTP/1.1 client takes absolute http:// URLs, not %q", req.URL)
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		closeRequestBody(req)
		return nil, ctxError(ctx)
	}
	addr := canonicalAddr(req.URL.Host)
	for retried := false; ; retried = true {
		pc, err := c.conn(ctx, addr)
		if err != nil {
			closeRequestBody(req)
			return nil, err
		}
		resp, err := pc.roundTrip(req)
		if err == nil {
			return resp, nil
		}
		if retried || !pc.reused || pc.received > 0 || ctx.Err() != nil || !replayable(req) {
			return nil, err
		}
		if req, err = rewound(req); err != nil {
			return nil, err
		}
	}
}

// conn returns a live idle connection to addr, or dials one.
func (c *h1Client) conn(ctx context.Context, addr string) (*h1Conn, error) {
	if pc := c.takeIdle(addr); pc != nil {
		return pc, nil
	}
	nc, err := c.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return newH1Conn(c, nc, addr), nil
}

// takeIdle pops idle connections to addr, newest first, until one is fresh and alive.
// (A pool serves one replica host, so the newest is addr's; the check keeps a client
// used for two hosts correct.)
func (c *h1Client) takeIdle(addr string) *h1Conn {
	c.mu.Lock()
	c.closeIdle = false
	for {
		i := len(c.idle) - 1
		for i >= 0 && c.idle[i].addr != addr {
			i--
		}
		if i < 0 {
			c.mu.Unlock()
			return nil
		}
		pc := c.idle[i]
		last := len(c.idle) - 1
		copy(c.idle[i:], c.idle[i+1:])
		c.idle[last] = nil
		c.idle = c.idle[:last]
		if c.now().Sub(pc.idleAt) >= c.idleTimeout {
			// Every connection below it idled longer still.
			stale := append([]*h1Conn(nil), c.idle[:i]...)
			kept := copy(c.idle, c.idle[i:])
			clear(c.idle[kept:])
			c.idle = c.idle[:kept]
			c.mu.Unlock()
			pc.close()
			for _, o := range stale {
				o.close()
			}
			return nil
		}
		c.mu.Unlock()
		if pc.alive() {
			pc.reused = true
			return pc
		}
		pc.close()
		c.mu.Lock()
	}
}

// putIdle keeps pc for the next request, or closes it when the pool is full or was
// just told to close its idle connections.
func (c *h1Client) putIdle(pc *h1Conn) {
	pc.idleAt = c.now()
	c.mu.Lock()
	if c.closeIdle || len(c.idle) >= c.maxIdle {
		c.mu.Unlock()
		pc.close()
		return
	}
	c.idle = append(c.idle, pc)
	if c.reaper == nil {
		c.reaper = time.AfterFunc(c.idleTimeout, c.reap)
	}
	c.mu.Unlock()
}

// reap closes the connections idle for idleTimeout (the oldest, at the bottom of
// the stack) and sets itself again for the next one to expire.
func (c *h1Client) reap() {
	c.mu.Lock()
	now := c.now()
	n := 0
	for n < len(c.idle) && now.Sub(c.idle[n].idleAt) >= c.idleTimeout {
		n++
	}
	expired := append([]*h1Conn(nil), c.idle[:n]...)
	rest := copy(c.idle, c.idle[n:])
	clear(c.idle[rest:])
	c.idle = c.idle[:rest]
	// CloseIdleConnections may have stopped this timer as it fired, and a putIdle
	// since started another: keep at most one set.
	switch next := c.idleTimeout; {
	case rest > 0 && c.reaper == nil:
		c.reaper = time.AfterFunc(c.idle[0].idleAt.Add(next).Sub(now), c.reap)
	case rest > 0:
		c.reaper.Reset(c.idle[0].idleAt.Add(next).Sub(now))
	case c.reaper != nil:
		c.reaper.Stop()
		c.reaper = nil
	}
	c.mu.Unlock()
	for _, pc := range expired {
		pc.close()
	}
}

// CloseIdleConnections closes every idle connection; connections in use close when
// their requests end, until the next request, as net/http's Transport does.
func (c *h1Client) CloseIdleConnections() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.closeIdle = true
	if c.reaper != nil {
		c.reaper.Stop()
		c.reaper = nil
	}
	c.mu.Unlock()
	for _, pc := range idle {
		pc.close()
	}
}

// idleCount is how many connections wait in the pool.
func (c *h1Client) idleCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle)
}

// replayable: net/http's rule for sending a request again on a new connection. The
// body can be had again, and the method is idempotent or the request says it may be
// repeated.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// rewound is req with a fresh body for its second send (a copy: a RoundTripper does
// not modify its request).
func rewound(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("replicas: rewinding the request body for a new connection: %w", err)
	}
	out := *req
	out.Body = body
	return &out, nil
}

func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// canonicalAddr is host:port with http's default port when the URL has none.
func canonicalAddr(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	// A bracketed IPv6 literal without a port keeps its brackets off for JoinHostPort.
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return net.JoinHostPort(host, "80")
}

// ctxError is the error for a request whose context ended: the context's error,
// with its cause when that says more (an attempt lost, timed out).
func ctxError(ctx context.Context) error {
	err, cause := ctx.Err(), context.Cause(ctx)
	if cause == nil || errors.Is(cause, err) {
		return err
	}
	return fmt.Errorf("%w: %w", err, cause)
}
