package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hedgegate/hedgegate/config"
)

// NewLogger returns the gateway's logger as log says: JSON lines (or text) on w, and
// the level variable its handler reads. Pass both in Options (Logger, LogLevel) and
// every reload sets the level from log.level; the format is fixed for the process.
func NewLogger(w io.Writer, lc config.Log) (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	level.Set(logLevel(lc.Level))
	opts := &slog.HandlerOptions{Level: level}
	if lc.Format == config.LogText {
		return slog.New(slog.NewTextHandler(w, opts)), level
	}
	return slog.New(slog.NewJSONHandler(w, opts)), level
}

// logLevel reads a validated log.level; anything else is info.
func logLevel(s string) slog.Level {
	switch s {
	case config.LogDebug:
		return slog.LevelDebug
	case config.LogWarn:
		return slog.LevelWarn
	case config.LogError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Bounds on what an access line copies from the request: a path or a method is
// whatever the client sent, up to max_header_bytes.
const (
	maxLoggedPath   = 256
	maxLoggedMethod = 24
)

// accessRecord is one client request as the access log sees it: the ResponseWriter the
// handlers write through (counting the status and the body bytes that went out) and
// what the route handler says about it. Pooled: with the access log on, a request
// costs no allocation until its line is written.
type accessRecord struct {
	http.ResponseWriter
	start    time.Time
	status   int
	bytes    int64
	route    string
	attempts int
	replica  string
	cut      bool // the answer was aborted mid-body
	shed     bool // refused by limits.max_inflight
}

var accessRecords = sync.Pool{New: func() any { return new(accessRecord) }}

func (a *accessRecord) WriteHeader(code int) {
	if a.status == 0 && code >= 200 { // a 1xx is not the answer
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *accessRecord) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	n, err := a.ResponseWriter.Write(p)
	a.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (deadlines, Flush).
func (a *accessRecord) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// recordOf is the access record w writes through, or nil when the access log is off.
func recordOf(w http.ResponseWriter) *accessRecord {
	rec, _ := w.(*accessRecord)
	return rec
}

func startAccess(w http.ResponseWriter) *accessRecord {
	rec := accessRecords.Get().(*accessRecord)
	*rec = accessRecord{ResponseWriter: w, start: time.Now()}
	return rec
}

// endAccess writes rec's line if the sample says so, and returns rec to the pool. It
// is deferred, so it also runs while an aborted answer's panic unwinds.
func (s *Server) endAccess(rec *accessRecord, r *http.Request, st *state) {
	defer func() {
		*rec = accessRecord{}
		accessRecords.Put(rec)
	}()
	// A 5xx the gateway chose (a failed route, no replica) is logged always; a shed 503
	// is sampled like a 200, since logging every request refused for overload would
	// add work exactly when there is none to spare (hedgegate_shed_total counts them).
	always := rec.status >= 500 && !rec.shed
	if sample := st.cfg.Log.Access.Sample; !always && sample < 1 && s.sample() >= sample {
		return
	}
	status := rec.status
	if status == 0 { // nothing written: net/http answers 200 with no body
		status = http.StatusOK
	}
	rd := slog.NewRecord(time.Now(), slog.LevelInfo, "access", 0)
	rd.AddAttrs(
		slog.String("route", rec.route),
		slog.String("method", bounded(r.Method, maxLoggedMethod)),
		slog.String("path", bounded(r.URL.Path, maxLoggedPath)),
		slog.String("proto", r.Proto),
		slog.Int("status", status),
		slog.Float64("duration_ms", ms(time.Since(rec.start))),
		slog.Int("attempts", rec.attempts),
		slog.String("replica", rec.replica),
		slog.Int64("bytes", rec.bytes),
		slog.String("client", clientAddr(r, st.trusted)),
		slog.Bool("truncated", rec.cut),
	)
	// Straight to the handler: access lines are switched by log.access.enabled, not
	// by log.level, and no caller's PC is wanted.
	s.log.Handler().Handle(context.Background(), rd)
}

// bounded cuts s to at most n bytes, on a character boundary, marking the cut.
func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// clientAddr is who the request came from, as far as the gateway can believe: the
// peer's address, or, when the peer is a trusted proxy, the last address in
// X-Forwarded-For that is not itself a trusted proxy (the one the nearest trusted
// proxy saw), or the first if all of them are. Only an address is ever returned, so the value stays bounded.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	peer, ok := peerAddr(r.RemoteAddr)
	if !ok || !isTrusted(peer, trusted) {
		return r.RemoteAddr
	}
	xff := r.Header.Values("X-Forwarded-For")
	var leftmost netip.Addr // when every hop is trusted, the first one is the client
	for i := len(xff) - 1; i >= 0; i-- {
		rest := xff[i]
		for rest != "" {
			var entry string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				rest, entry = rest[:j], rest[j+1:]
			} else {
				rest, entry = "", rest
			}
			a, err := netip.ParseAddr(strings.TrimSpace(entry))
			if err != nil {
				return r.RemoteAddr // a hop that does not parse: believe no further
			}
			if a = a.Unmap(); !isTrusted(a, trusted) {
				return a.String()
			}
			leftmost = a
		}
	}
	if leftmost.IsValid() {
		return leftmost.String()
	}
	return r.RemoteAddr
}
