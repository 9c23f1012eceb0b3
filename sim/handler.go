package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/hedgegate/hedgegate/internal/finesleep"
)

// track counts running handlers for Close and turns requests arriving during
// Close away.
func (r *Replica) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hmu.Lock()
		if r.closed {
			r.hmu.Unlock()
			http.Error(w, "sim replica closing", http.StatusServiceUnavailable)
			return
		}
		r.handlers.Add(1)
		r.hmu.Unlock()
		defer r.handlers.Done()
		h.ServeHTTP(w, req)
	})
}

func (r *Replica) routes() http.Handler {
	mux := http.NewServeMux()
	// GET patterns also match HEAD.
	mux.HandleFunc("GET /kv/{key...}", r.handleKV)
	mux.HandleFunc("POST /kv/{key...}", r.handleKV)
	mux.HandleFunc("POST /query", r.handleQuery)
	mux.HandleFunc("GET /{$}", r.handleWarmup)
	r.controlRoutes(mux)
	return mux
}

// handleWarmup answers / at once for connection warm-up. Hang mode leaves it
// alone (a stuck data path behind a live process is the classic gray failure);
// refuse mode resets it like everything else.
func (r *Replica) handleWarmup(w http.ResponseWriter, req *http.Request) {
	r.warmups.Add(1)
	if r.profile.Load().Mode == ModeRefuse {
		r.refuse(w)
		return
	}
	w.Header().Set("X-Replica", r.name)
	w.WriteHeader(http.StatusOK)
}

func (r *Replica) handleKV(w http.ResponseWriter, req *http.Request) {
	r.serveData(w, req, func() (string, int, error) {
		if req.Method == http.MethodPost {
			// A POST read's body is read like a real service would, then ignored.
			if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, req.Body, maxBody)); err != nil {
				return "", http.StatusBadRequest, err
			}
		}
		return req.PathValue("key"), 0, nil
	})
}

func (r *Replica) handleQuery(w http.ResponseWriter, req *http.Request) {
	r.serveData(w, req, func() (string, int, error) {
		var q struct {
			Key string `json:"key"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, maxBody)).Decode(&q); err != nil {
			return "", http.StatusBadRequest, fmt.Errorf("body: want {\"key\": \"...\"}: %w", err)
		}
		return q.Key, 0, nil
	})
}

// serveData is every data request's path: count, apply the mode, read the key,
// wait the drawn latency, then answer 500 or the key's version.
func (r *Replica) serveData(w http.ResponseWriter, req *http.Request, key func() (string, int, error)) {
	r.served.Add(1)
	r.inflight.Add(1)
	defer r.inflight.Add(-1)

	p := r.profile.Load()
	switch p.Mode {
	case ModeRefuse:
		r.refuse(w)
		return
	case ModeHang:
		r.wait(req.Context(), nil)
		return
	}
	k, code, err := key()
	if err != nil {
		r.writeJSON(w, code, map[string]string{"error": err.Error(), "replica": r.name})
		return
	}
	if k == "" {
		r.writeJSON(w, http.StatusBadRequest, map[string]string{"error": "empty key", "replica": r.name})
		return
	}
	r.rngMu.Lock()
	d := p.decide(r.rng)
	r.rngMu.Unlock()

	if d.delay > 0 {
		r.sleep(req.Context(), d.delay)
	}
	if d.fail {
		r.errored.Add(1)
		r.writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "simulated error", "replica": r.name})
		return
	}
	v, stale := r.versionOf(k, p)
	if stale {
		r.stale.Add(1)
	}
	w.Header().Set("X-Version", strconv.FormatInt(v, 10))
	r.writeJSON(w, http.StatusOK, answer{Key: k, Version: v, Value: fmt.Sprintf("value-%s-%d", k, v), Replica: r.name})
}

// answer is a data answer's body.
type answer struct {
	Key     string `json:"key"`
	Version int64  `json:"version"`
	Value   string `json:"value"`
	Replica string `json:"replica"`
}

// sleep waits d, or less if the client leaves or the replica closes (see wait). A
// runtime timer would answer up to 1ms later than the profile says in an idle
// process; finesleep's fires on time.
func (r *Replica) sleep(ctx context.Context, d time.Duration) {
	t := finesleep.NewTimer()
	defer t.Stop()
	t.Reset(d)
	r.wait(ctx, t.C)
}

// wait returns when done fires. If the client goes away or the replica closes
// first, it aborts the handler: the connection is closed with no answer, so
// neither a client nor a test ever sees a half-made response. A nil done waits
// for those two only (hang mode).
func (r *Replica) wait(ctx context.Context, done <-chan time.Time) {
	select {
	case <-done:
		return
	case <-r.closing:
	case <-ctx.Done():
		// Checked again because both may be ready: only a client leaving counts.
		select {
		case <-r.closing:
		default:
			r.cancelled.Add(1)
		}
	}
	panic(http.ErrAbortHandler) // net/http recovers this one silently
}

// refuse resets the connection without an answer. The client has already
// connected and sent its request, so it sees "connection reset by peer" (or
// EOF), not "connection refused": to simulate a dead port, Close the replica.
func (r *Replica) refuse(w http.ResponseWriter) {
	r.refused.Add(1)
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // RST instead of FIN
	}
	conn.Close()
}

func (r *Replica) writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Replica", r.name)
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v) // a failed write means the client left; nothing to do
}
