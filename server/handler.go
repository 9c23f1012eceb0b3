package server

import (
	"context"
	"errors"
	"fmt"
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
func (s *Server) matchHandler(routes []*route, st *state) http.Handler {
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
			s.traceRoute(w, name, routes[0].cfg.Match)
			code := writeFailure(w, name, &edgeError{kind: refuseMethod, allow: allow,
				msg: "method " + r.Method + " is not a read on this route (allowed: " + allow + ")"})
			s.metrics.observe(name, code, time.Since(start))
			if rec := recordOf(w); rec != nil {
				rec.route = name
			}
			return
		}
		s.traceRoute(w, rt.cfg.Name, rt.cfg.Match)
		out := s.serveRoute(w, r, rt, st)
		s.metrics.observe(rt.cfg.Name, out.status, time.Since(start))
		if rec := recordOf(w); rec != nil {
			rec.route, rec.attempts, rec.replica, rec.cut = rt.cfg.Name, out.attempts, out.replica, out.cut
		}
		if out.cut {
			// Never a clean end for a body cut short: net/http closes an HTTP/1.1
			// connection without the terminating chunk, and resets an HTTP/2 stream.
			panic(http.ErrAbortHandler)
		}
	})
}

// outcome is how one routed request ended: for metrics and the access log.
type outcome struct {
	status   int
	cut      bool   // the answer's body was cut short
	attempts int    // attempts sent to replicas
	replica  string // whose answer was served; "" for an error the gateway made
}

// serveRoute serves one read in five steps: deadline, body, path, engine, answer.
func (s *Server) serveRoute(w http.ResponseWriter, r *http.Request, rt *route, st *state) outcome {
	name := rt.cfg.Name
	timeout, err := routeTimeout(r, rt.cfg.Timeout.D())
	if err != nil {
		return failed(w, name, err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()

	body, err := readBody(w, r, deadline, st.cfg.Limits.MaxRequestBodyBytes)
	if err != nil {
		return failed(w, name, err)
	}
	out, err := forwardRequest(ctx, r, rt.cfg.StripPrefix, st)
	if err != nil {
		return failed(w, name, err)
	}
	if err := s.membersFor(rt); err != nil {
		return failed(w, name, err)
	}
	res, err := rt.plan.Do(ctx, out, body)
	if err != nil {
		return failed(w, name, err)
	}
	defer res.Close()
	s.traceResult(w, res)
	status, cut := s.answer(ctx, w, r, rt, res, deadline.Add(timeout))
	return outcome{status: status, cut: cut, attempts: res.Sent, replica: res.Replica}
}

// membersFor refuses a request that rt's set cannot serve now: a discovery set with no
// member yet, or fewer members than a quorum route reads (a fixed list is validated
// to have enough).
func (s *Server) membersFor(rt *route) error {
	set := rt.plan.Set()
	n := len(set.Replicas)
	switch {
	case !set.Discovered():
		return nil
	case n == 0:
		return refuse(refuseNoMembers, fmt.Sprintf("replica set %q has no member yet: %s", set.Name, s.disc.readiness(set.Name)))
	case rt.cfg.Strategy == config.StrategyQuorum && n < rt.cfg.Quorum.Read:
		return refuse(refuseNoMembers, fmt.Sprintf("quorum impossible: replica set %q has %d members, quorum.read is %d",
			set.Name, n, rt.cfg.Quorum.Read))
	}
	return nil
}

// failed writes err's answer; an engine error says how many attempts it made.
func failed(w http.ResponseWriter, route string, err error) outcome {
	o := outcome{status: writeFailure(w, route, err)}
	var herr *hedge.Error
	if errors.As(err, &herr) {
		o.attempts = len(herr.Attempts)
	}
	return o
}

// routeTimeout is the route's timeout, shortened by the client's X-Request-Timeout.
func routeTimeout(r *http.Request, timeout time.Duration) (time.Duration, error) {
	v := first(r.Header, RequestTimeoutHeader)
	if v == "" {
		return timeout, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, refuse(refuseBadRequest, RequestTimeoutHeader+": want a positive duration such as 250ms, got "+strconv.Quote(v))
	}
	return min(timeout, d), nil
}

// readBody buffers the request body, bounded by limit and by the deadline: a client
// that trickles its body must not hold a slot of max_inflight past it. nil: no body.
func readBody(w http.ResponseWriter, r *http.Request, deadline time.Time, limit int64) ([]byte, error) {
	tooLarge := func() error {
		return refuse(refuseBodyTooLarge, "request body larger than limits.max_request_body_bytes ("+strconv.FormatInt(limit, 10)+")")
	}
	if r.ContentLength > limit {
		return nil, tooLarge()
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	// Only while the body is read: left armed, the deadline would fire net/http's
	// background read and cancel the request as if the client had gone.
	conn := http.NewResponseController(w)
	conn.SetReadDeadline(deadline) // an error means this writer cannot; nothing to bound
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	conn.SetReadDeadline(time.Time{})
	var maxErr *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &maxErr):
		return nil, tooLarge()
	case errors.As(err, &netErr) && netErr.Timeout():
		if r.ProtoMajor == 1 {
			// The rest of the body may still come: close rather than have net/http
			// wait to drain it for reuse. (Over HTTP/2 the stream is reset when the
			// handler returns; Connection: close there would GOAWAY every other
			// stream's connection.)
			w.Header().Set("Connection", "close")
		}
		return nil, refuse(refuseBodyTimeout, "request body not received before the route's deadline")
	case err != nil:
		return nil, refuse(refuseBadRequest, "reading request body: "+err.Error())
	}
	return body, nil
}

// forwardRequest is the request the engine copies for each attempt: the normalized
// path with strip_prefix removed, end-to-end headers only, X-Forwarded-* as the trust
// model says, and HTTP/1.1 keep-alive whatever the client used (its Connection: close
// or HTTP/1.0 is about its own connection, not the pooled one to the replica). A
// shallow copy of r with its own URL and header: nothing in it is changed after, so
// it shares the rest (r.Clone's deep copy was a tenth of the request's allocations).
func forwardRequest(ctx context.Context, r *http.Request, prefix string, st *state) (*http.Request, error) {
	u := r.URL
	if prefix != "" {
		stripped, ok := stripPrefix(r.URL, prefix)
		if !ok {
			return nil, refuse(refuseNotFound, "path does not start with strip_prefix "+prefix)
		}
		u = stripped
	}
	out := r.WithContext(ctx)
	ou := *r.URL
	ou.Path, ou.RawPath = u.Path, u.RawPath
	out.URL = &ou
	out.Close = false
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	out.Header = forwardHeaders(r, st.trusted)
	return out, nil
}

// answer sends the decided result to the client and says whether its body was cut
// short. What bounds it (docs/config.md, routes[i].timeout): the replica's body is read
// under the route deadline, so a body still streaming then is cut off; writing to the
// client may take until writeBy (the deadline plus one more route timeout), which
// lets an answer already held in memory (a quorum decided at the deadline) still go
// out, and lets go of a client that stops reading in bounded time.
func (s *Server) answer(ctx context.Context, w http.ResponseWriter, r *http.Request, rt *route,
	res *hedge.Result, writeBy time.Time) (int, bool) {
	resp := res.Response
	h := w.Header()
	copyEndToEnd(h, resp.Header)
	// Canonical names, set in the map directly (headers.go).
	if resp.ContentLength >= 0 && first(h, "Content-Length") == "" && r.Method != http.MethodHead {
		h["Content-Length"] = []string{strconv.FormatInt(resp.ContentLength, 10)}
	}
	h[ReplicaHeader] = []string{res.Replica}
	h[AttemptsHeader] = attemptsValue(res.Sent)
	if rt.plan.Versioned() {
		// The gateway's word, never a replica's: absent when the answer carried none.
		delete(h, hedge.VersionHeader)
		if res.Version != "" {
			h[hedge.VersionHeader] = []string{res.Version}
		}
	}
	if q := res.Quorum; q != nil {
		h["X-Quorum"] = []string{strconv.Itoa(q.Agreeing) + "/" + strconv.Itoa(q.Asked)}
		h["X-Quorum-Version"] = []string{q.Version}
	}
	conn := http.NewResponseController(w)
	// net/http does not reset a write deadline for the next request on this
	// connection (no WriteTimeout is set), so clear it once the answer is out.
	conn.SetWriteDeadline(writeBy)
	defer conn.SetWriteDeadline(time.Time{})
	w.WriteHeader(resp.StatusCode)
	// A body of unknown length is a stream: pass each piece on as it comes, as
	// httputil.ReverseProxy does.
	streaming := resp.ContentLength < 0
	if err, fromReplica := copyBody(w, resp.Body, conn, streaming); err != nil {
		s.cutShort(ctx, r, rt.cfg.Name, res.Replica, err, fromReplica)
		return resp.StatusCode, true
	}
	// The answer goes out now: the deferred Close waits for the cancelled losers to
	// finish, and net/http would otherwise hold the last bytes until the handler returns.
	conn.Flush()
	return resp.StatusCode, false
}

// copyBody copies body to w, flushing after every piece when streaming. It returns why
// it stopped short, and whether that was on the replica's side, or nil at the end.
func copyBody(w io.Writer, body io.Reader, conn *http.ResponseController, streaming bool) (error, bool) {
	if wt, ok := body.(io.WriterTo); ok && !streaming {
		// A body the engine holds whole (hedge's buffered answers) writes itself in
		// one call: no 32 KiB copy buffer held per answer in flight for a body of a
		// few hundred bytes. It cannot fail on its reading side.
		if _, err := wt.WriteTo(w); err != nil && !errors.Is(err, http.ErrBodyNotAllowed) {
			return err, false
		}
		return nil, false
	}
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	for {
		n, rerr := body.Read(*buf)
		if n > 0 {
			_, werr := w.Write((*buf)[:n])
			if errors.Is(werr, http.ErrBodyNotAllowed) {
				return nil, false // a 204 or 304 carries no body, whatever the replica sent
			}
			if werr == nil && streaming {
				werr = conn.Flush()
			}
			if werr != nil {
				return werr, false
			}
		}
		switch {
		case rerr == io.EOF:
			return nil, false
		case rerr != nil:
			return rerr, true
		}
	}
}

// cutShort counts and logs an answer that will be aborted. A client that went away
// is not counted: nobody was served half an answer.
func (s *Server) cutShort(ctx context.Context, r *http.Request, route, replica string, err error, fromReplica bool) {
	var netErr net.Error
	var reason string
	switch {
	case !fromReplica && errors.As(err, &netErr) && netErr.Timeout():
		// Checked first: a failed write also cancels the request's context.
		reason = "the client did not take the answer by the route deadline plus one route timeout"
	case !fromReplica, r.Context().Err() != nil:
		s.log.Debug("answer abandoned: the client went away", "route", route, "replica", replica, "err", err)
		return
	case ctx.Err() != nil:
		reason = "the route deadline passed while the replica was still sending the body"
	default:
		reason = "the replica's body ended early: " + err.Error()
	}
	s.metrics.truncated.WithLabelValues(route).Inc()
	s.log.Warn("answer cut short; aborted to the client (HTTP/1: its connection, HTTP/2: its stream)",
		"route", route, "replica", replica, "proto", r.Proto, "reason", reason)
}

// attemptsValues are X-Hedgegate-Attempts' values for the usual counts, shared by
// every answer (len == cap: an append copies; nothing writes into them).
var attemptsValues = func() (v [9][]string) {
	for n := range v {
		v[n] = []string{strconv.Itoa(n)}
	}
	return v
}()

func attemptsValue(n int) []string {
	if n >= 0 && n < len(attemptsValues) {
		return attemptsValues[n]
	}
	return []string{strconv.Itoa(n)}
}
