package server

import (
	"context"
	"hash/fnv"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/hedgegate/hedgegate/replicas"
)

// warmEvery is how often a replica no warm-up has reached yet is tried again.
const warmEvery = time.Second

// warmer tries replicas until a warm-up reaches them, and logs each replica's state
// changes once: down (with the reason) the first time it cannot be reached, back
// when it is reached after that. Nothing is logged while a state holds.
type warmer struct {
	log    *slog.Logger
	every  time.Duration // warmEvery; shorter in tests
	offset time.Duration // per-host, so a fleet's retries do not align
	kick   chan struct{} // a reload added replicas: try them now

	mu   sync.Mutex
	down map[*replicas.Replica]bool // replicas logged down and not back yet
}

func newWarmer(log *slog.Logger) *warmer {
	return &warmer{log: log, every: warmEvery, offset: hostJitter(warmEvery / 4),
		kick: make(chan struct{}, 1), down: map[*replicas.Replica]bool{}}
}

// Warm opens every set's warm connections, trying replicas it could not reach again
// every second (plus a per-host offset), until every set is ready or ctx ends.
func (s *Server) Warm(ctx context.Context) {
	for {
		s.warmPass(ctx, s.state.Load())
		if s.Ready() || !s.warm.sleep(ctx, false) {
			return
		}
	}
}

// keepWarm runs for the gateway's life: every replica not reached yet, in the sets of
// the config in force (those a reload added too), is tried each interval until it is.
// So /readyz turns 200 when a set that was down comes up, whenever that is.
func (s *Server) keepWarm(ctx context.Context) {
	for {
		pending := s.warmPass(ctx, s.state.Load())
		if !s.warm.sleep(ctx, pending == 0) {
			return
		}
	}
}

// sleep waits for the next pass: the interval (or, when idle, nothing but a kick), a
// kick, or ctx. It reports whether to go on.
func (w *warmer) sleep(ctx context.Context, idle bool) bool {
	var tick <-chan time.Time
	if !idle {
		t := time.NewTimer(w.every + w.offset)
		defer t.Stop()
		tick = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-w.kick:
	case <-tick:
	}
	return true
}

// wake has keepWarm look at the config in force now.
func (w *warmer) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// warmPass tries, all at once, every replica of st that no warm-up has reached (in
// sets with warm-up on), logs the ones whose state changed, and returns how many are
// still unreached.
func (s *Server) warmPass(ctx context.Context, st *state) int {
	type try struct {
		set *replicas.Set
		rep *replicas.Replica
		err error
	}
	var tries []*try
	names := make([]string, 0, len(st.sets))
	for name := range st.sets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		set := st.sets[name]
		if rc := st.cfg.ReplicaSets[name]; rc == nil || rc.WarmConnections == 0 {
			continue
		}
		for _, rep := range set.Replicas {
			if !rep.Warmed() {
				tries = append(tries, &try{set: set, rep: rep})
			}
		}
	}
	var wg sync.WaitGroup
	for _, t := range tries {
		wg.Go(func() { t.err = t.set.WarmReplica(ctx, t.rep) })
	}
	wg.Wait()
	pending := 0
	for _, t := range tries {
		if !t.rep.Warmed() {
			pending++
		}
		if ctx.Err() == nil { // a pass cut short by shutdown says nothing of the replica
			s.warm.note(t.rep, t.err)
		}
	}
	return pending
}

// note logs rep's state if it changed.
func (w *warmer) note(rep *replicas.Replica, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch reached := rep.Warmed(); {
	case !reached && !w.down[rep]:
		w.down[rep] = true
		w.log.Warn("replica down: warm-up cannot reach it; trying again every second",
			"replica_set", rep.Set, "replica", rep.Name, "url", rep.URL.Redacted(), "err", err)
	case reached && w.down[rep]:
		delete(w.down, rep)
		w.log.Info("replica back: warm-up reached it", "replica_set", rep.Set, "replica", rep.Name)
	}
}

// forget drops replicas a reload removed.
func (w *warmer) forget(removed []*replicas.Replica) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range removed {
		delete(w.down, r)
	}
}

// hostJitter is a stable offset in [0, span) from the host name: the same host always
// waits the same extra time, so its periodic work is spread from other hosts' yet
// repeats the same way each run (easy to debug).
func hostJitter(span time.Duration) time.Duration {
	host, _ := os.Hostname()
	h := fnv.New64a()
	h.Write([]byte(host))
	return time.Duration(h.Sum64() % uint64(span))
}
