package server

import (
	"context"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/hedge"
	"github.com/hedgegate/hedgegate/replicas"
)

// applyFound puts the members just found in force, the way a reload puts a new config
// in force: the state is rebuilt around the new member lists (kept members keep their
// connections, histograms and stats; every route gets a new plan carrying its budget
// and floor) and swapped whole, so a request in flight keeps the members it started
// with. New members are warmed first, and those warm-up cannot reach are held back
// until a later lookup: a member gets traffic only once it is warm. Members that left
// get no new request; their connections close, and their series go, once the last
// request that could use them has ended (on retiring, so the loop does not wait).
func (s *Server) applyFound(ctx context.Context, found map[string]foundMembers, retiring *sync.WaitGroup) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	prev := s.state.Load()
	changed := map[string][]config.Replica{}
	for name, f := range found {
		rc := prev.cfg.ReplicaSets[name]
		if rc == nil || !rc.Discovery.SameMembers(f.settings) {
			delete(found, name) // a reload changed the set meanwhile: the answer is not its own
			continue
		}
		if set := prev.sets[name]; !slices.Equal(membersOf(set), f.members) {
			changed[name] = f.members
		}
	}
	if len(changed) == 0 {
		s.noteHeldBack(found, nil, nil)
		return
	}
	st, removed, err := s.buildSafely(prev.cfg, prev, changed)
	if err != nil {
		s.log.Error("discovery: the members found cannot be put in force; the set keeps its members", "err", err)
		return
	}
	cold := s.warmNew(ctx, prev, st, changed)
	s.noteHeldBack(found, cold, st)
	if len(cold) > 0 {
		tried := st
		for name, names := range cold {
			changed[name] = slices.DeleteFunc(changed[name], func(m config.Replica) bool { return names[m.Name] != "" })
			if slices.Equal(changed[name], membersOf(prev.sets[name])) {
				delete(changed, name) // nothing else changed
			}
		}
		if len(changed) == 0 {
			closeNew(prev, tried)
			return
		}
		var never []*replicas.Replica
		if st, never, err = s.buildSafely(prev.cfg, tried, changed); err != nil {
			closeNew(prev, tried)
			s.log.Error("discovery: the members found cannot be put in force; the set keeps its members", "err", err)
			return
		}
		for _, r := range never { // warmed in vain, never in force
			r.Close()
		}
	}
	s.state.Store(st)
	s.warm.forget(removed)
	s.logMembers(prev, st, changed)
	if len(removed) > 0 {
		retiring.Go(func() { s.retire(ctx, prev, removed) })
	}
}

// closeNew closes the replicas of st, a state never put in force, that prev does not
// have: their warm connections.
func closeNew(prev, st *state) {
	for name, set := range st.sets {
		for _, r := range set.Replicas {
			if old := prev.sets[name]; old == nil || old.Replica(r.Name) != r {
				r.Close()
			}
		}
	}
}

// warmNew warms, all at once, the members of the changed sets of st that prev did not
// have, and returns per set those no warm-up reached, with the reason. Sets with
// warm-up off have none.
func (s *Server) warmNew(ctx context.Context, prev, st *state, changed map[string][]config.Replica) map[string]map[string]string {
	type try struct {
		set *replicas.Set
		rep *replicas.Replica
		err error
	}
	var tries []*try
	for name := range changed {
		set, old := st.sets[name], prev.sets[name]
		if st.cfg.ReplicaSets[name].WarmConnections == 0 {
			continue
		}
		for _, r := range set.Replicas {
			if old.Replica(r.Name) != r {
				tries = append(tries, &try{set: set, rep: r})
			}
		}
	}
	var wg sync.WaitGroup
	for _, t := range tries {
		wg.Go(func() { t.err = t.set.WarmReplica(ctx, t.rep) })
	}
	wg.Wait()
	cold := map[string]map[string]string{}
	for _, t := range tries {
		if t.rep.Warmed() {
			continue
		}
		if cold[t.set.Name] == nil {
			cold[t.set.Name] = map[string]string{}
		}
		reason := "warm-up reached no connection"
		if t.err != nil {
			reason = t.err.Error()
		}
		cold[t.set.Name][t.rep.Name] = reason
	}
	return cold
}

// noteHeldBack records which members of the sets just looked up are held back (cold),
// and logs each once when it is first held back, and once more if it then joins (is
// in st): not at every lookup.
func (s *Server) noteHeldBack(found map[string]foundMembers, cold map[string]map[string]string, st *state) {
	s.disc.mu.Lock()
	defer s.disc.mu.Unlock()
	for set := range found {
		e := s.disc.sets[set]
		if e == nil {
			continue
		}
		for name, reason := range cold[set] {
			if e.heldBack[name] == nil {
				e.heldBack[name] = &heldBackMember{since: time.Now(), err: reason}
				s.log.Warn("discovery: new member held back: warm-up cannot reach it; it is tried again at each lookup",
					"replica_set", set, "replica", name, "err", reason)
			}
		}
		for name := range e.heldBack {
			if _, still := cold[set][name]; still {
				continue
			}
			delete(e.heldBack, name)
			if st != nil && st.sets[set] != nil && st.sets[set].Replica(name) != nil {
				s.log.Info("discovery: held-back member reached; it joins", "replica_set", set, "replica", name)
			}
		}
	}
}

// logMembers logs each changed set's joins and departures.
func (s *Server) logMembers(prev, st *state, changed map[string][]config.Replica) {
	for name := range changed {
		joined, left := []string{}, []string{} // [] in JSON logs, not null
		for _, r := range st.sets[name].Replicas {
			if prev.sets[name].Replica(r.Name) == nil {
				joined = append(joined, r.Name)
			}
		}
		for _, r := range prev.sets[name].Replicas {
			if st.sets[name].Replica(r.Name) == nil {
				left = append(left, r.Name)
			}
		}
		if len(joined)+len(left) > 0 {
			s.log.Info("discovery: members changed", "replica_set", name, "joined", joined, "left", left,
				"members", len(st.sets[name].Replicas))
		}
	}
}

// retire closes the replicas a discovery change removed, once no request runs on the
// state they were part of (as a reload's drain does), and drops their metrics series
// unless they are back by then. When ctx ends first (shutdown), it closes them at once.
func (s *Server) retire(ctx context.Context, prev *state, removed []*replicas.Replica) {
	deadline := time.Now().Add(prev.maxTimeout() + time.Second)
	for prev.active.Load() > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			deadline = time.Time{}
		case <-time.After(5 * time.Millisecond):
		}
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.closeRemoved(removed)
}

// closeRemoved closes removed replicas' connections and forgets the metrics series of
// those whose name the config in force no longer has in their set: a churning
// discovery set must not leave a series per address it ever had. Callers hold
// reloadMu, so no swap brings a name back meanwhile.
func (s *Server) closeRemoved(removed []*replicas.Replica) {
	cur := s.state.Load()
	for _, r := range removed {
		r.Close()
		if set := cur.sets[r.Set]; set != nil && set.Replica(r.Name) != nil {
			continue
		}
		for _, rc := range cur.cfg.Routes {
			if rc.ReplicaSet == r.Set {
				s.metrics.forgetReplica(rc.Name, r.Name)
			}
		}
	}
}

// forgetReplica deletes route's per-replica series of replica.
func (m *metrics) forgetReplica(route, replica string) {
	for _, k := range []hedge.Kind{hedge.KindPrimary, hedge.KindHedge, hedge.KindRetry} {
		m.backend.DeleteLabelValues(route, replica, k.String())
	}
	m.quorumDivergent.DeleteLabelValues(route, replica)
	m.staleAnswers.DeleteLabelValues(route, replica)
}

// offsetFor is a stable offset in [0, span) from host and key: the same host always
// waits the same extra time for key's periodic work, so its pattern repeats run after
// run (easy to debug), while a fleet's hosts, and one host's sets, spread.
func offsetFor(host, key string, span time.Duration) time.Duration {
	if span <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(host))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return time.Duration(h.Sum64() % uint64(span))
}
