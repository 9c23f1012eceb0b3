package server

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/replicas"
)

// Discovery timing.
const (
	// lookupTimeout bounds one lookup (of a refresh shorter than it: the refresh).
	lookupTimeout = 5 * time.Second
	// discoverRetry is how soon a set with no member yet looks again (or its refresh,
	// if shorter): a gateway starting before its replicas' Service resolves should be
	// ready soon after it does, not a whole refresh later.
	discoverRetry = time.Second
)

// discoverer is the gateway's knowledge of its discovery sets' lookups, for the
// refresh loop, /readyz and /debug/replicas. The members themselves live in the
// state's sets.
type discoverer struct {
	resolver replicas.Resolver
	host     string // the host name the refresh offsets come from

	mu   sync.Mutex
	sets map[string]*setLookups // by set name
}

// setLookups is what one discovery set's lookups said, for the settings they ran with.
type setLookups struct {
	settings config.Discovery
	last     lookupReport
	lastOK   time.Time
	next     time.Time                  // when the loop looks again
	heldBack map[string]*heldBackMember // found, not reached by warm-up yet: not serving
}

type heldBackMember struct {
	since time.Time
	err   string
}

// lookupReport is one lookup, as /debug/replicas shows it.
type lookupReport struct {
	At         time.Time `json:"at"`
	Result     string    `json:"result"`
	Error      string    `json:"error,omitempty"`
	Members    int       `json:"members"` // in the answer (0 when it failed)
	DurationMS float64   `json:"duration_ms"`
}

func newDiscoverer(r replicas.Resolver, host string) *discoverer {
	return &discoverer{resolver: r, host: host, sets: map[string]*setLookups{}}
}

// entry is set's lookups for settings d, started afresh when the settings changed.
// Callers hold mu.
func (d *discoverer) entry(set string, disc *config.Discovery) *setLookups {
	e := d.sets[set]
	if e == nil || !e.settings.SameMembers(disc) {
		e = &setLookups{heldBack: map[string]*heldBackMember{}}
		d.sets[set] = e
	}
	e.settings = *disc
	return e
}

// discoverySets lists cfg's sets that find their members in DNS, sorted.
func discoverySets(cfg *config.Config) []string {
	var names []string
	for name, rs := range cfg.ReplicaSets {
		if rs.Discovery != nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// lookup resolves set's discovery once, counts and records the outcome, and logs a
// change of outcome (a failing resolver is logged when it starts and when it stops
// failing, not at every refresh).
func (s *Server) lookup(ctx context.Context, set string, disc *config.Discovery) ([]config.Replica, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, min(disc.Refresh.D(), lookupTimeout))
	defer cancel()
	start := time.Now()
	found, err := replicas.Lookup(ctx, s.disc.resolver, disc)
	if parent.Err() != nil {
		return nil, parent.Err() // shutdown cut it short: it says nothing of the resolver
	}
	rep := lookupReport{At: start, Result: replicas.LookupResult(err), Members: len(found),
		DurationMS: ms(time.Since(start))}
	if err != nil {
		rep.Error = err.Error()
	}
	s.metrics.discovery.WithLabelValues(set, rep.Result).Inc()

	s.disc.mu.Lock()
	e := s.disc.entry(set, disc)
	before := e.last
	e.last = rep
	if err == nil {
		e.lastOK = start
	}
	s.disc.mu.Unlock()
	name := disc.DNS + disc.SRV
	switch {
	case err != nil && before.Result != rep.Result:
		s.log.Warn("discovery: lookup failed; the set keeps the members it has", "replica_set", set,
			"name", name, "result", rep.Result, "err", err)
	case err == nil && before.Result != "" && before.Result != replicas.LookupOK:
		s.log.Info("discovery: lookups answer again", "replica_set", set, "name", name, "members", len(found))
	}
	return found, err
}

// discover runs the lookups of every discovery set of the config in force, each on
// its refresh plus a per-host offset (DESIGN principle 5: a fleet's lookups spread,
// one host's repeat the same way), and puts the members found in force. A set that
// has no member yet looks again every second. It returns when ctx ends, once the
// replicas it removed are closed.
func (s *Server) discover(ctx context.Context) {
	var retiring sync.WaitGroup
	defer retiring.Wait()
	for {
		st := s.state.Load()
		now := time.Now()
		var due []string
		wake := now.Add(time.Hour)
		for _, name := range discoverySets(st.cfg) {
			next := s.nextLookup(name, st)
			if !next.After(now) {
				due = append(due, name)
			} else {
				wake = minTime(wake, next)
			}
		}
		if len(due) > 0 {
			found := s.lookupAll(ctx, st, due)
			if ctx.Err() != nil {
				return
			}
			s.applyFound(ctx, found, &retiring)
			continue // schedules anew from the lookups just made
		}
		t := time.NewTimer(wake.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.discKick:
		case <-t.C:
		}
		t.Stop()
	}
}

// nextLookup is when set looks again: at once before its first lookup, else the last
// one plus the interval. Recorded for /debug/replicas.
func (s *Server) nextLookup(set string, st *state) time.Time {
	disc := st.cfg.ReplicaSets[set].Discovery
	s.disc.mu.Lock()
	defer s.disc.mu.Unlock()
	e := s.disc.entry(set, disc)
	if e.last.At.IsZero() {
		e.next = time.Time{}
		return e.next
	}
	every := disc.Refresh.D()
	if members := st.sets[set]; members == nil || len(members.Replicas) == 0 {
		every = min(every, discoverRetry)
	}
	e.next = e.last.At.Add(every + offsetFor(s.disc.host, set, every/10))
	return e.next
}

// foundMembers is what a lookup of one set found, and with which settings.
type foundMembers struct {
	settings *config.Discovery
	members  []config.Replica
}

// lookupAll looks up the sets named, all at once, and returns the members of those
// that answered.
func (s *Server) lookupAll(ctx context.Context, st *state, sets []string) map[string]foundMembers {
	found := make([][]config.Replica, len(sets))
	var wg sync.WaitGroup
	for i, name := range sets {
		wg.Go(func() { found[i], _ = s.lookup(ctx, name, st.cfg.ReplicaSets[name].Discovery) })
	}
	wg.Wait()
	out := map[string]foundMembers{}
	for i, name := range sets {
		if found[i] != nil { // a failed lookup keeps the set as it is
			out[name] = foundMembers{settings: st.cfg.ReplicaSets[name].Discovery, members: found[i]}
		}
	}
	return out
}

// resolveChanged is a reload's lookups: every discovery set of cfg that the running
// config does not already resolve the same way (new, or another name or scheme) is
// resolved before cfg goes in force, since it would otherwise start with no member.
// A failed lookup refuses the reload: the running config stays.
func (s *Server) resolveChanged(cfg *config.Config, prev *state) (map[string][]config.Replica, error) {
	found := map[string][]config.Replica{}
	var probs config.Problems
	for _, name := range discoverySets(cfg) {
		disc := cfg.ReplicaSets[name].Discovery
		if old := prev.cfg.ReplicaSets[name]; old != nil && old.Discovery.SameMembers(disc) {
			continue // its members carry over
		}
		members, err := s.lookup(context.Background(), name, disc)
		if err != nil {
			probs = append(probs, problem(cfg, config.DiscoveryPath(name),
				"%v (%s): a new discovery must answer before the config goes in force", err, replicas.LookupResult(err)))
			continue
		}
		found[name] = members
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return found, nil
}

// discoveredMembers is what set (with discovery) holds in a state built from cfg on
// prev: the members just found, else prev's if they were found the same way, else
// none yet.
func discoveredMembers(name string, cfg *config.Config, prev *state, found map[string][]config.Replica) []config.Replica {
	if m, ok := found[name]; ok {
		return m
	}
	if prev == nil || prev.sets[name] == nil {
		return nil
	}
	if old := prev.cfg.ReplicaSets[name]; old == nil || !old.Discovery.SameMembers(cfg.ReplicaSets[name].Discovery) {
		return nil
	}
	return membersOf(prev.sets[name])
}

// membersOf lists set's replicas as config does.
func membersOf(set *replicas.Set) []config.Replica {
	out := make([]config.Replica, len(set.Replicas))
	for i, r := range set.Replicas {
		out[i] = config.Replica{Name: r.Name, URL: r.URL.String()}
	}
	return out
}

// readiness says why set has no member, for /readyz.
func (d *discoverer) readiness(set string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.sets[set]
	switch {
	case e == nil || e.last.At.IsZero():
		return "no lookup has answered yet"
	case e.last.Result != replicas.LookupOK:
		return fmt.Sprintf("last lookup %s (%s): %s", e.last.Result, e.last.At.UTC().Format(time.RFC3339), e.last.Error)
	case len(e.heldBack) > 0:
		return fmt.Sprintf("%d members found, none reached by warm-up yet", len(e.heldBack))
	}
	return "no member"
}

// DiscoveryReport is a discovery set's lookups in /debug/replicas.
type DiscoveryReport struct {
	DNS            string        `json:"dns,omitempty"`
	SRV            string        `json:"srv,omitempty"`
	Scheme         string        `json:"scheme"`
	RefreshSeconds float64       `json:"refresh_seconds"`
	LastLookup     *lookupReport `json:"last_lookup,omitempty"`
	LastOK         *time.Time    `json:"last_ok,omitempty"`
	NextLookup     *time.Time    `json:"next_lookup,omitempty"`
	// HeldBack are members the last answer named that no warm-up has reached: they get
	// no traffic, and are tried again at each lookup.
	HeldBack []string `json:"held_back,omitempty"`
}

func (d *discoverer) report(set string, disc *config.Discovery) *DiscoveryReport {
	r := &DiscoveryReport{DNS: disc.DNS, SRV: disc.SRV, Scheme: disc.Scheme, RefreshSeconds: disc.Refresh.D().Seconds()}
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.sets[set]
	if e == nil || !e.settings.SameMembers(disc) {
		return r
	}
	if !e.last.At.IsZero() {
		last := e.last
		r.LastLookup = &last
	}
	if !e.lastOK.IsZero() {
		ok := e.lastOK
		r.LastOK = &ok
	}
	if !e.next.IsZero() {
		next := e.next
		r.NextLookup = &next
	}
	for name := range e.heldBack {
		r.HeldBack = append(r.HeldBack, name)
	}
	slices.Sort(r.HeldBack)
	return r
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
