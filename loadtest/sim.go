package loadtest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// simMaxBody bounds what a POST read may send; the simulator only needs a key.
const simMaxBody = 1 << 20

// SimReplica is one simulated replica of a read service, listening on its own
// loopback port. It serves data on /kv/{key} and /query, a quick warm-up answer
// on /, and its control endpoint on /_sim/ (see docs/simulator.md).
//
// A SimReplica is safe for concurrent use. It must not be copied.
type SimReplica struct {
	name string
	seed uint64

	srv      *http.Server
	ln       net.Listener
	url      string
	serveErr chan error // Serve's result, read once by Close

	// closing is closed first by Close, so every wait in a handler ends at once.
	closing   chan struct{}
	closeOnce sync.Once
	closeErr  error

	// handlers tracks running handlers so Close can wait for them. Add happens
	// under hmu only while !closed, so it never races Wait.
	hmu      sync.Mutex
	closed   bool
	handlers sync.WaitGroup

	// profile is read on every request; pmu serialises read-modify-write changes.
	profile atomic.Pointer[SimProfile]
	pmu     sync.Mutex

	rngMu sync.Mutex
	rng   *rand.Rand

	// epoch is added to every key's fresh version; a SimCluster shares one
	// between its replicas so a bump is a write everyone sees.
	epoch *atomic.Int64

	served    atomic.Int64
	cancelled atomic.Int64
	errored   atomic.Int64
	stale     atomic.Int64
	refused   atomic.Int64
	inflight  atomic.Int64
	warmups   atomic.Int64
}

// SimOption changes how NewSimReplica starts a replica.
type SimOption func(*simOptions)

type simOptions struct {
	addr  string
	epoch *atomic.Int64
}

// SimListenAddr makes the replica listen on addr (host:port) instead of
// 127.0.0.1:0.
func SimListenAddr(addr string) SimOption {
	return func(o *simOptions) { o.addr = addr }
}

// simSharedEpoch makes several replicas share one version epoch.
func simSharedEpoch(e *atomic.Int64) SimOption {
	return func(o *simOptions) { o.epoch = e }
}

// SimStats are a replica's counters, as GET /_sim/stats shows them.
type SimStats struct {
	Name string `json:"name"`
	// Served counts data requests (/kv, /query) at arrival, whatever their fate.
	Served int64 `json:"served"`
	// Cancelled counts data requests whose client went away before the answer.
	Cancelled int64 `json:"cancelled"`
	// Errors counts injected 500 answers; Stale counts answers with fresh−1;
	// Refused counts connections reset in refuse mode.
	Errors  int64 `json:"errors"`
	Stale   int64 `json:"stale"`
	Refused int64 `json:"refused"`
	// InFlight is data requests being handled now (waiting or hanging).
	InFlight int64 `json:"inflight"`
	// Warmups counts requests to / (not in Served).
	Warmups int64 `json:"warmups"`
	// Epoch is how many times fresh versions were bumped.
	Epoch int64 `json:"epoch"`
}

// NewSimReplica starts a replica named name with profile p. The seed fixes its
// random stream (mixed with name, so replicas sharing a seed still differ) and
// which keys it serves stale. It listens on 127.0.0.1:0 unless SimListenAddr says
// otherwise; Close stops it.
func NewSimReplica(name string, p SimProfile, seed uint64, opts ...SimOption) (*SimReplica, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("sim replica %s: %w", name, err)
	}
	o := simOptions{addr: "127.0.0.1:0"}
	for _, opt := range opts {
		opt(&o)
	}
	if o.epoch == nil {
		o.epoch = new(atomic.Int64)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return nil, fmt.Errorf("sim replica %s: %w", name, err)
	}
	r := &SimReplica{
		name:     name,
		seed:     seed,
		ln:       ln,
		url:      "http://" + ln.Addr().String(),
		serveErr: make(chan error, 1),
		closing:  make(chan struct{}),
		rng:      rand.New(rand.NewPCG(seed, simHash(0, name))),
		epoch:    o.epoch,
	}
	p.Mode, _ = simParseMode(p.Mode) // canonical: "normal" → ""
	r.profile.Store(&p)
	r.srv = &http.Server{
		Handler: r.track(r.routes()),
		// A stalled client must not pin a handler past Close's grace period.
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { r.serveErr <- r.srv.Serve(ln) }()
	return r, nil
}

// Name is the replica's name, as it appears in answers ("replica") and stats.
func (r *SimReplica) Name() string { return r.name }

// URL is the replica's base URL, e.g. http://127.0.0.1:9101.
func (r *SimReplica) URL() string { return r.url }

// Addr is the host:port the replica listens on.
func (r *SimReplica) Addr() string { return r.ln.Addr().String() }

// Served counts data requests at arrival, whatever their outcome: compare it
// with the client's request count to measure amplification.
func (r *SimReplica) Served() int64 { return r.served.Load() }

// CancelledCount counts data requests whose client went away before the answer:
// cancelled hedging losers show up here.
func (r *SimReplica) CancelledCount() int64 { return r.cancelled.Load() }

// InFlight is the number of data requests being handled now.
func (r *SimReplica) InFlight() int64 { return r.inflight.Load() }

// Profile returns the current profile.
func (r *SimReplica) Profile() SimProfile { return *r.profile.Load() }

// SetProfile replaces the profile; requests already waiting keep their draw.
// p should pass Validate: out-of-range values are not rejected here, they act
// as their nearest sensible value (probabilities clamp, an unknown mode is normal).
func (r *SimReplica) SetProfile(p SimProfile) {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	p.Mode, _ = simParseMode(p.Mode)
	r.profile.Store(&p)
}

// updateProfile applies fn to a copy of the profile under the write lock.
func (r *SimReplica) updateProfile(fn func(*SimProfile) error) (SimProfile, error) {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	p := *r.profile.Load()
	if err := fn(&p); err != nil {
		return *r.profile.Load(), err
	}
	r.profile.Store(&p)
	return p, nil
}

// Bump makes every key's fresh version one higher (a write), for this replica
// and every replica sharing its epoch (a SimCluster), and returns the new epoch.
func (r *SimReplica) Bump() int64 { return r.epoch.Add(1) }

// FreshVersion is the newest version of key now: 1000 + hash(key)%1000 + epoch.
func (r *SimReplica) FreshVersion(key string) int64 {
	return 1000 + int64(simHash(0, key)%1000) + r.epoch.Load()
}

// VersionOf is the version this replica serves for key now: FreshVersion, or
// one less if key falls in the replica's StaleFraction.
func (r *SimReplica) VersionOf(key string) int64 {
	v, _ := r.versionOf(key, r.profile.Load())
	return v
}

func (r *SimReplica) versionOf(key string, p *SimProfile) (version int64, stale bool) {
	v := r.FreshVersion(key)
	// The top 53 bits as a uniform fraction in [0,1): the same keys stay stale
	// for a given replica and seed, and raising StaleFraction only adds keys.
	u := float64(simHash(r.seed, r.name+"\x00"+key)>>11) / (1 << 53)
	if u < p.StaleFraction {
		return v - 1, true
	}
	return v, false
}

// Stats returns the replica's counters.
func (r *SimReplica) Stats() SimStats {
	return SimStats{
		Name:      r.name,
		Served:    r.served.Load(),
		Cancelled: r.cancelled.Load(),
		Errors:    r.errored.Load(),
		Stale:     r.stale.Load(),
		Refused:   r.refused.Load(),
		InFlight:  r.inflight.Load(),
		Warmups:   r.warmups.Load(),
		Epoch:     r.epoch.Load(),
	}
}

// Close stops the replica: hung and waiting handlers are released (their
// connections closed without an answer), the listener and every connection are
// closed, and Close returns once no goroutine of the replica is left. It is
// safe to call more than once.
func (r *SimReplica) Close() error {
	r.closeOnce.Do(func() {
		r.hmu.Lock()
		r.closed = true
		r.hmu.Unlock()
		close(r.closing)
		// Handlers end at once now, so a graceful shutdown is quick; the bound
		// covers a client stalled mid-body.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := r.srv.Shutdown(ctx); err != nil {
			r.srv.Close()
		}
		r.handlers.Wait()
		if err := <-r.serveErr; !errors.Is(err, http.ErrServerClosed) {
			r.closeErr = err
		}
	})
	return r.closeErr
}

// track counts running handlers for Close and turns requests arriving during
// Close away.
func (r *SimReplica) track(h http.Handler) http.Handler {
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

func (r *SimReplica) routes() http.Handler {
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
func (r *SimReplica) handleWarmup(w http.ResponseWriter, req *http.Request) {
	r.warmups.Add(1)
	if r.profile.Load().Mode == SimModeRefuse {
		r.refuse(w)
		return
	}
	w.Header().Set("X-Replica", r.name)
	w.WriteHeader(http.StatusOK)
}

func (r *SimReplica) handleKV(w http.ResponseWriter, req *http.Request) {
	r.serveData(w, req, func() (string, int, error) {
		if req.Method == http.MethodPost {
			// A POST read's body is read like a real service would, then ignored.
			if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, req.Body, simMaxBody)); err != nil {
				return "", http.StatusBadRequest, err
			}
		}
		return req.PathValue("key"), 0, nil
	})
}

func (r *SimReplica) handleQuery(w http.ResponseWriter, req *http.Request) {
	r.serveData(w, req, func() (string, int, error) {
		var q struct {
			Key string `json:"key"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, simMaxBody)).Decode(&q); err != nil {
			return "", http.StatusBadRequest, fmt.Errorf("body: want {\"key\": \"...\"}: %w", err)
		}
		return q.Key, 0, nil
	})
}

// serveData is every data request's path: count, apply the mode, read the key,
// wait the drawn latency, then answer 500 or the key's version.
func (r *SimReplica) serveData(w http.ResponseWriter, req *http.Request, key func() (string, int, error)) {
	r.served.Add(1)
	r.inflight.Add(1)
	defer r.inflight.Add(-1)

	p := r.profile.Load()
	switch p.Mode {
	case SimModeRefuse:
		r.refuse(w)
		return
	case SimModeHang:
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
	d := p.simDecide(r.rng)
	r.rngMu.Unlock()

	if d.delay > 0 {
		t := time.NewTimer(d.delay)
		defer t.Stop()
		r.wait(req.Context(), t.C)
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
	r.writeJSON(w, http.StatusOK, simAnswer{Key: k, Version: v, Value: fmt.Sprintf("value-%s-%d", k, v), Replica: r.name})
}

// simAnswer is a data answer's body.
type simAnswer struct {
	Key     string `json:"key"`
	Version int64  `json:"version"`
	Value   string `json:"value"`
	Replica string `json:"replica"`
}

// wait returns when done fires. If the client goes away or the replica closes
// first, it aborts the handler: the connection is closed with no answer, so
// neither a client nor a test ever sees a half-made response. A nil done waits
// for those two only (hang mode).
func (r *SimReplica) wait(ctx context.Context, done <-chan time.Time) {
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
func (r *SimReplica) refuse(w http.ResponseWriter) {
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

func (r *SimReplica) writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Replica", r.name)
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v) // a failed write means the client left; nothing to do
}

// simHash is FNV-1a over seed and s: stable across runs and platforms, unlike
// hash/maphash, so versions and stale keys are reproducible.
func simHash(seed uint64, s string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(s))
	// FNV's low bits mix poorly for short keys; finish with splitmix64.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
