package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// replica is one simulated replica of a read service. It is not loadtest's simulator:
// the faults here need answers large enough that bandwidth and a cut mid-body matter,
// sent as a stream in both framings, and every byte checkable by the client (body.go).
//
// GET /kv/{key} waits its latency (or the client leaving), then sends the headers,
// flushes them, and sends the body in bodyPiece pieces, flushing each. GET / answers at
// once for the gateway's warm-up.
type replica struct {
	name   string
	size   int
	ln     net.Listener
	srv    *http.Server
	served atomic.Int64 // data requests, counted at arrival

	mu  sync.Mutex
	rng *rand.Rand
	min time.Duration
	max time.Duration

	done chan error
}

// replicaIdleTimeout makes the replica close connections idle for that long, as real
// servers do; it is what gives slow_close something to delay.
const replicaIdleTimeout = time.Second

// startReplica listens on addr (a loopback host:port) and serves answers of size bytes
// after a latency uniform in [lo, hi].
func startReplica(name, addr string, size int, lo, hi time.Duration, seed uint64) (*replica, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &replica{
		name: name, size: size, ln: ln,
		rng: rand.New(rand.NewPCG(seed, uint64(keyHash(name)))),
		min: lo, max: hi,
		done: make(chan error, 1),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /kv/{key}", r.serveKey)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: replicaIdleTimeout}
	go func() { r.done <- r.srv.Serve(ln) }()
	return r, nil
}

func (r *replica) addr() string { return r.ln.Addr().String() }

func (r *replica) latency() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.min + time.Duration(r.rng.Int64N(int64(r.max-r.min)+1))
}

func (r *replica) serveKey(w http.ResponseWriter, req *http.Request) {
	r.served.Add(1)
	key := req.PathValue("key")
	t := time.NewTimer(r.latency())
	defer t.Stop()
	select {
	case <-t.C:
	case <-req.Context().Done():
		return
	}
	version := keyVersion(key)
	body := expectedBody(key, version, r.size)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Version", strconv.FormatInt(version, 10))
	h.Set("X-Replica", r.name)
	if !chunkedKey(key) {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(http.StatusOK)
	flush := http.NewResponseController(w).Flush
	if flush() != nil {
		return
	}
	for len(body) > 0 {
		n := min(bodyPiece, len(body))
		if _, err := w.Write(body[:n]); err != nil {
			return
		}
		if flush() != nil {
			return
		}
		body = body[n:]
	}
}

// close stops the replica and every connection it holds.
func (r *replica) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		r.srv.Close()
	}
	if err := <-r.done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
