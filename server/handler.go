package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/hedge"
)

// RequestTimeoutHeader lets a client shorten, never lengthen, a route's deadline.
const RequestTimeoutHeader = "X-Request-Timeout"

// ReplicaHeader names the replica whose answer was served, and AttemptsHeader how many
// attempts the request took, so an operator can see from any response what happened.
const (
	ReplicaHeader  = "X-Hedgegate-Replica"
	AttemptsHeader = "X-Hedgegate-Attempts"
)

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// matchHandler serves the routes sharing one match pattern: the method picks the route
// (config validation guarantees at most one per method); any other method gets 405.
func (s *Server) matchHandler(routes []*route, cfg *config.Config) http.Handler {
	byMethod := map[string]*route{}
	var allowed []string
	for _, rt := range routes {
		for _, m := range rt.cfg.Methods {
			if byMethod[m] == nil {
				byMethod[m] = rt
				allowed = append(allowed, m)
			}
		}
	}
	allow := strings.Join(allowed, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rt := byMethod[r.Method]
		if rt == nil {
			name := routes[0].cfg.Name
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, errorBody{Route: name,
				Error: "method " + r.Method + " is not a read on this route (allowed: " + allow + ")"})
			s.metrics.observe(name, http.StatusMethodNotAllowed, time.Since(start))
			return
		}
		code := s.serveRoute(w, r, rt, cfg)
		s.metrics.observe(rt.cfg.Name, code, time.Since(start))
	})
}

// serveRoute serves one read: deadline, bounded body, the engine, then the answer
// streamed back. It returns the status sent.
func (s *Server) serveRoute(w http.ResponseWriter, r *http.Request, rt *route, cfg *config.Config) int {
	name := rt.cfg.Name
	fail := func(status int, msg string) int {
		writeError(w, status, errorBody{Error: msg, Route: name})
		return status
	}

	timeout := rt.cfg.Timeout.D()
	if v := r.Header.Get(RequestTimeoutHeader); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fail(http.StatusBadRequest, RequestTimeoutHeader+": want a positive duration such as 250ms, got "+strconv.Quote(v))
		}
		timeout = min(timeout, d)
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	// The deadline covers the client's side too: a client that trickles its body or
	// stops reading the answer must not hold a slot of max_inflight past it.
	deadline, _ := ctx.Deadline()
	conn := http.NewResponseController(w)

	limit := cfg.Limits.MaxRequestBodyBytes
	if r.ContentLength > limit {
		return fail(http.StatusRequestEntityTooLarge, "request body larger than limits.max_request_body_bytes ("+strconv.FormatInt(limit, 10)+")")
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		// Only while the body is read: left armed, the deadline would fire net/http's
		// background read and cancel the request as if the client had gone.
		conn.SetReadDeadline(deadline) // an error means this writer cannot; nothing to bound
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		conn.SetReadDeadline(time.Time{})
		var tooLarge *http.MaxBytesError
		var netErr net.Error
		switch {
		case errors.As(err, &tooLarge):
			return fail(http.StatusRequestEntityTooLarge, "request body larger than limits.max_request_body_bytes ("+strconv.FormatInt(limit, 10)+")")
		case errors.As(err, &netErr) && netErr.Timeout():
			// The rest of the body may still come: close rather than have net/http
			// wait to drain it for reuse.
			w.Header().Set("Connection", "close")
			return fail(http.StatusRequestTimeout, "request body not received before the route's deadline")
		case err != nil:
			return fail(http.StatusBadRequest, "reading request body: "+err.Error())
		}
	}

	path := r.URL.Path
	rawPath := r.URL.RawPath
	if p := rt.cfg.StripPrefix; p != "" {
		if !strings.HasPrefix(path, p) {
			return fail(http.StatusNotFound, "path does not start with strip_prefix "+p)
		}
		path = ensureSlash(strings.TrimPrefix(path, p))
		if rawPath != "" {
			rawPath = ensureSlash(strings.TrimPrefix(rawPath, p))
		}
	}

	out := r.Clone(ctx)
	out.URL.Path, out.URL.RawPath = path, rawPath
	removeHopHeaders(out.Header)
	out.Header.Del(RequestTimeoutHeader)
	addForwarded(out.Header, r)

	res, err := rt.plan.Do(ctx, out, body)
	if err != nil {
		var herr *hedge.Error
		if !errors.As(err, &herr) {
			return fail(http.StatusBadGateway, err.Error())
		}
		// Written even when the client seems gone (499): returning without a word
		// would make net/http send an empty 200 if it is still there.
		status := herr.Status()
		writeError(w, status, errorBody{Error: herr.Message, Route: name, Attempts: herr.Attempts})
		return status
	}
	defer res.Close()

	resp := res.Response
	h := w.Header()
	copyHeader(h, resp.Header)
	removeHopHeaders(h)
	if resp.ContentLength >= 0 && h.Get("Content-Length") == "" && r.Method != http.MethodHead {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	h.Set(ReplicaHeader, res.Replica)
	h.Set(AttemptsHeader, strconv.Itoa(res.Sent))
	if q := res.Quorum; q != nil {
		h.Set("X-Quorum", strconv.Itoa(q.Agreeing)+"/"+strconv.Itoa(q.Asked))
		h.Set("X-Quorum-Version", q.Version)
	}
	// The answer gets the route timeout again to reach the client, counted from now:
	// a quorum under conflict latest answers at the deadline itself, and a client
	// that stops reading must still let go of its max_inflight slot in bounded time.
	// net/http does not reset a write deadline for the next request on this
	// connection (no WriteTimeout is set), so clear it once the answer is out.
	conn.SetWriteDeadline(time.Now().Add(timeout))
	defer conn.SetWriteDeadline(time.Time{})
	w.WriteHeader(resp.StatusCode)
	buf := copyBuffers.Get().(*[]byte)
	io.CopyBuffer(w, resp.Body, *buf) // a copy error means the client or replica went away mid-body
	copyBuffers.Put(buf)
	// The answer goes out now: the deferred Close waits for the cancelled losers to
	// finish, and net/http would otherwise hold the last bytes until the handler returns.
	conn.Flush()
	return resp.StatusCode
}

func ensureSlash(p string) string {
	if !strings.HasPrefix(p, "/") {
		return "/" + p
	}
	return p
}
