package sim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// maxBody bounds what a POST read may send; the simulator only needs a key.
const maxBody = 1 << 20

// Replica is one simulated replica of a read service, listening on its own
// loopback port. It serves data on /kv/{key} and /query, a quick warm-up answer
// on /, and its control endpoint on /_sim/ (see docs/simulator.md).
//
// A Replica is safe for concurrent use. It must not be copied.
type Replica struct {
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
	profile atomic.Pointer[Profile]
	pmu     sync.Mutex

	rngMu sync.Mutex
	rng   *rand.Rand

	// epoch is added to every key's fresh version; a Cluster shares one
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

// Option changes how NewReplica starts a replica.
type Option func(*options)

type options struct {
	addr  string
	epoch *atomic.Int64
}

// ListenAddr makes the replica listen on addr (host:port) instead of
// 127.0.0.1:0.
func ListenAddr(addr string) Option {
	return func(o *options) { o.addr = addr }
}

// sharedEpoch makes several replicas share one version epoch.
func sharedEpoch(e *atomic.Int64) Option {
	return func(o *options) { o.epoch = e }
}

// Stats are a replica's counters, as GET /_sim/stats shows them.
type Stats struct {
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

// NewReplica starts a replica named name with profile p. The seed fixes its
// random stream (mixed with name, so replicas sharing a seed still differ) and
// which keys it serves stale. It listens on 127.0.0.1:0 unless ListenAddr says
// otherwise; Close stops it.
func NewReplica(name string, p Profile, seed uint64, opts ...Option) (*Replica, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("sim replica %s: %w", name, err)
	}
	o := options{addr: "127.0.0.1:0"}
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
	r := &Replica{
		name:     name,
		seed:     seed,
		ln:       ln,
		url:      "http://" + ln.Addr().String(),
		serveErr: make(chan error, 1),
		closing:  make(chan struct{}),
		rng:      rand.New(rand.NewPCG(seed, stableHash(0, name))),
		epoch:    o.epoch,
	}
	p.Mode, _ = parseMode(p.Mode) // canonical: "normal" → ""
	r.profile.Store(&p)
	r.srv = &http.Server{
		Handler: r.track(r.routes()),
		// A stalled client must not pin a handler past Close's grace period.
		ReadHeaderTimeout: 10 * time.Second,
		// HTTP/1.1, and cleartext HTTP/2 with prior knowledge for a gateway whose
		// replica set says protocol: h2c.
		Protocols: simProtocols(),
	}
	go func() { r.serveErr <- r.srv.Serve(ln) }()
	return r, nil
}

func simProtocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return p
}

// Name is the replica's name, as it appears in answers ("replica") and stats.
func (r *Replica) Name() string { return r.name }

// URL is the replica's base URL, e.g. http://127.0.0.1:9101.
func (r *Replica) URL() string { return r.url }

// Addr is the host:port the replica listens on.
func (r *Replica) Addr() string { return r.ln.Addr().String() }

// Served counts data requests at arrival, whatever their outcome: compare it
// with the client's request count to measure amplification.
func (r *Replica) Served() int64 { return r.served.Load() }

// CancelledCount counts data requests whose client went away before the answer:
// cancelled hedging losers show up here.
func (r *Replica) CancelledCount() int64 { return r.cancelled.Load() }

// InFlight is the number of data requests being handled now.
func (r *Replica) InFlight() int64 { return r.inflight.Load() }

// Profile returns the current profile.
func (r *Replica) Profile() Profile { return *r.profile.Load() }

// SetProfile replaces the profile; requests already waiting keep their draw.
// p should pass Validate: out-of-range values are not rejected here, they act
// as their nearest sensible value (probabilities clamp, an unknown mode is normal).
func (r *Replica) SetProfile(p Profile) {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	p.Mode, _ = parseMode(p.Mode)
	r.profile.Store(&p)
}

// updateProfile applies fn to a copy of the profile under the write lock.
func (r *Replica) updateProfile(fn func(*Profile) error) (Profile, error) {
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
// and every replica sharing its epoch (a Cluster), and returns the new epoch.
func (r *Replica) Bump() int64 { return r.epoch.Add(1) }

// FreshVersion is the newest version of key now: 1000 + hash(key)%1000 + epoch.
func (r *Replica) FreshVersion(key string) int64 {
	return 1000 + int64(stableHash(0, key)%1000) + r.epoch.Load()
}

// VersionOf is the version this replica serves for key now: FreshVersion, or
// one less if key falls in the replica's StaleFraction.
func (r *Replica) VersionOf(key string) int64 {
	v, _ := r.versionOf(key, r.profile.Load())
	return v
}

func (r *Replica) versionOf(key string, p *Profile) (version int64, stale bool) {
	v := r.FreshVersion(key)
	// The top 53 bits as a uniform fraction in [0,1): the same keys stay stale
	// for a given replica and seed, and raising StaleFraction only adds keys.
	u := float64(stableHash(r.seed, r.name+"\x00"+key)>>11) / (1 << 53)
	if u < p.StaleFraction {
		return v - 1, true
	}
	return v, false
}

// Stats returns the replica's counters.
func (r *Replica) Stats() Stats {
	return Stats{
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
func (r *Replica) Close() error {
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

// stableHash is FNV-1a over seed and s: stable across runs and platforms, unlike
// hash/maphash, so versions and stale keys are reproducible.
func stableHash(seed uint64, s string) uint64 {
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
