// Package replicas holds the replica sets a gateway routes to: their shared
// transport, warm-up, per-replica runtime state (in-flight attempts, time-decayed
// latency and error averages, a rolling latency histogram) and the picker that
// chooses among them.
package replicas

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/latency"
)

// Set is a named group of interchangeable replicas. Name and Replicas are fixed at
// construction; do not modify them. A set whose members change (DNS discovery) is
// replaced by a new Set built from the old one with NewSetFrom, so every request sees
// one unchanging member list.
//
// Every replica has its own connection pool built from the set's settings, so that a
// reload can close a removed replica's connections while the others keep theirs.
type Set struct {
	Name     string
	Replicas []*Replica

	transport hostTransport
	byName    map[string]*Replica
	warmConns int
	settings  setSettings
	// retired are a discovery set's members that left within the rolling latency
	// window, by name: one that comes back resumes their histogram and counters.
	retired map[string]retiredReplica
}

// setSettings are what a replica's transport and histogram are built from: a replica
// is kept across a reload only while they are unchanged.
type setSettings struct {
	connect    time.Duration
	warmConns  int
	window     time.Duration
	buckets    int
	discovered bool   // members from DNS: the set may be empty, and remembers leavers
	serverName string // what https members' certificates are checked against, if not their address
	protocol   string // config.Protocol*; "" is http1
	client     string // config.Client*; "" is auto
}

// retiredReplica is a member that left a discovery set, remembered until until.
type retiredReplica struct {
	r     *Replica
	until time.Time
}

// maxRetired bounds the members a discovery set remembers after they left: each holds
// its latency histograms (about 208 KiB), and a returning member is the exception.
const maxRetired = 8

// hostTransport sends each request with the transport of the replica it is for.
type hostTransport map[string]*pool

// A request for a replica whose URL has credentials (http://user:pass@host) is sent
// with them as basic auth, in place of any Authorization the client sent: the
// credentials are the operator's, for the gateway to authenticate as, and a client
// must not choose another identity toward that replica. The userinfo itself never
// goes on the wire (net/http's Transport would drop it silently).
func (h hostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t, ok := h[req.URL.Host]
	if !ok {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("replicas: %s is not a replica of this set", req.URL.Host)
	}
	if req.URL.User != nil {
		req = withBasicAuth(req)
	}
	return t.RoundTrip(req)
}

// withBasicAuth returns a copy of req (a RoundTripper must not change its request)
// carrying its URL's userinfo as an Authorization header instead.
func withBasicAuth(req *http.Request) *http.Request {
	out := *req
	u := *req.URL
	u.User = nil
	out.URL = &u
	out.Header = req.Header.Clone()
	if out.Header == nil {
		out.Header = http.Header{}
	}
	pass, _ := req.URL.User.Password()
	out.SetBasicAuth(req.URL.User.Username(), pass)
	return &out
}

// NewSet builds the set name from cfg. Replica URLs must be absolute http or https
// URLs and names unique and non-empty. Zero connect_timeout, latency.window and
// latency.buckets take config's defaults ([config.DefaultConnectTimeout],
// [config.DefaultWindow], [config.DefaultBuckets]), so a Set built from a hand-written
// struct behaves like one from a file; warm_connections 0 disables warm-up. A nil now
// means time.Now; it drives every replica's histogram and averages.
//
// A set with cfg.Discovery takes its members from cfg.Replicas too (the caller puts
// what Lookup found there) and may have none yet.
func NewSet(name string, cfg *config.ReplicaSet, lat config.Latency, now func() time.Time) (*Set, error) {
	s, _, err := NewSetFrom(nil, name, cfg, lat, now)
	return s, err
}

// NewSetFrom is NewSet for a reload or a change of a discovery set's members: every
// replica of prev (which may be nil) whose name and URL are unchanged is kept, with
// its connections, histogram and stats, as long as the set's connection and latency
// settings are unchanged too. It also returns prev's replicas that were not kept, for
// the caller to drain and Close.
//
// A discovery set remembers the members that left for the rolling latency window
// (latency.buckets × latency.window; at most 8): one that comes back at the same
// address gets a fresh connection pool but resumes their histogram and counters, so a
// lookup that missed it once does not reset what the gateway learnt of it.
func NewSetFrom(prev *Set, name string, cfg *config.ReplicaSet, lat config.Latency, now func() time.Time) (*Set, []*Replica, error) {
	s, err := newSetShell(name, cfg, lat, now)
	if err != nil {
		return nil, nil, err
	}
	if err := checkProtocol(cfg); err != nil {
		return nil, nil, fmt.Errorf("replica set %q: %w", name, err)
	}
	if now == nil {
		now = time.Now
	}
	t := now()
	var keep map[string]*Replica
	if prev != nil && prev.settings == s.settings {
		keep = prev.byName
		for n, old := range prev.retired {
			if t.Before(old.until) {
				s.retired[n] = old
			}
		}
	}
	var errs []error
	for i, rc := range cfg.Replicas {
		u, err := parseURL(rc.URL)
		switch {
		case rc.Name == "":
			errs = append(errs, fmt.Errorf("replica set %q: replicas[%d]: name is empty", name, i))
			continue
		case s.byName[rc.Name] != nil:
			errs = append(errs, fmt.Errorf("replica set %q: replica %q: duplicate name", name, rc.Name))
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("replica set %q: replica %q: %w", name, rc.Name, err))
			continue
		}
		if msg := config.SchemeProblem(u.Scheme, cfg.Protocol, cfg.Client); msg != "" {
			errs = append(errs, fmt.Errorf("replica set %q: replica %q: %s", name, rc.Name, msg))
			continue
		}
		r := keep[rc.Name]
		if r == nil || r.URL.String() != u.String() {
			r = newReplica(name, rc.Name, u, latency.NewWindow(s.settings.window, s.settings.buckets, now), now)
			if old, ok := s.retired[rc.Name]; ok && old.r.URL.String() == u.String() {
				r.resume(old.r)
				delete(s.retired, rc.Name)
			}
			// Replicas on one host share a pool; their connections are the same anyway.
			if shared, ok := s.transport[u.Host]; ok {
				r.transport = shared
			} else {
				r.transport = s.newPool(u.Scheme)
			}
		}
		s.transport[u.Host] = r.transport
		s.Replicas = append(s.Replicas, r)
		s.byName[r.Name] = r
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	var removed []*Replica
	if prev != nil {
		for _, r := range prev.Replicas {
			if s.byName[r.Name] != r {
				// A pool shared with a replica on the same host that stays is not the
				// removed replica's to close.
				if s.transport[r.URL.Host] == r.transport {
					r.transport = nil
				}
				removed = append(removed, r)
			}
		}
		s.retire(removed, t.Add(time.Duration(s.settings.buckets)*s.settings.window))
	}
	return s, removed, nil
}

// newSetShell checks cfg and returns an empty set with its settings.
func newSetShell(name string, cfg *config.ReplicaSet, lat config.Latency, now func() time.Time) (*Set, error) {
	if cfg == nil {
		return nil, fmt.Errorf("replica set %q: no config", name)
	}
	discovered := cfg.Discovery != nil
	if len(cfg.Replicas) == 0 && !discovered {
		return nil, fmt.Errorf("replica set %q: no replicas", name)
	}
	if cfg.WarmConnections < 0 {
		return nil, fmt.Errorf("replica set %q: warm_connections %d is negative", name, cfg.WarmConnections)
	}
	connect := cfg.ConnectTimeout.D()
	if connect <= 0 {
		connect = config.DefaultConnectTimeout
	}
	window, buckets := lat.Window.D(), lat.Buckets
	if window <= 0 {
		window = config.DefaultWindow
	}
	if buckets <= 0 {
		buckets = config.DefaultBuckets
	}
	settings := setSettings{connect: connect, warmConns: cfg.WarmConnections, window: window, buckets: buckets,
		discovered: discovered, protocol: cfg.Protocol, client: cfg.Client}
	if discovered && cfg.Discovery.Scheme == "https" {
		// A member's URL holds its address; its certificate names the service.
		settings.serverName = cfg.Discovery.Host()
	}
	return &Set{
		Name:      name,
		Replicas:  make([]*Replica, 0, len(cfg.Replicas)),
		transport: hostTransport{},
		byName:    make(map[string]*Replica, len(cfg.Replicas)),
		warmConns: cfg.WarmConnections,
		settings:  settings,
		retired:   map[string]retiredReplica{},
	}, nil
}

// newPool is a connection pool for one replica host of s.
func (s *Set) newPool(scheme string) *pool {
	p := newPool(poolSettings{connect: s.settings.connect, warm: s.settings.warmConns, scheme: scheme,
		protocol: s.settings.protocol, client: s.settings.client})
	if p.std != nil && scheme == "https" && s.settings.serverName != "" {
		// Set before the first request; with protocol h2 net/http still offers h2 by ALPN.
		p.std.TLSClientConfig = &tls.Config{ServerName: s.settings.serverName, MinVersion: tls.VersionTLS12}
	}
	return p
}

// retire remembers a discovery set's removed members until until, keeping the latest
// maxRetired.
func (s *Set) retire(removed []*Replica, until time.Time) {
	if !s.settings.discovered {
		return
	}
	for _, r := range removed {
		s.retired[r.Name] = retiredReplica{r: r, until: until}
	}
	for len(s.retired) > maxRetired {
		oldest := ""
		for n, old := range s.retired {
			if first, ok := s.retired[oldest]; !ok || old.until.Before(first.until) || old.until.Equal(first.until) && n < oldest {
				oldest = n
			}
		}
		delete(s.retired, oldest)
	}
}

// parseURL accepts absolute http and https URLs with a host. Its errors show the URL
// with the password redacted.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its text would repeat the URL, password included
		}
		return nil, fmt.Errorf("url %q: %w", config.RedactURL(raw), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url %q: scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("url %q: no host", u.Redacted())
	}
	return u, nil
}

// Transport returns the set's round tripper: it sends each request with the
// connection pool of the replica whose host it names.
func (s *Set) Transport() http.RoundTripper { return s.transport }

// Replica returns the replica called name, or nil.
func (s *Set) Replica(name string) *Replica { return s.byName[name] }

// Ready reports whether the set may take traffic: it has a replica, and a warm-up has
// reached at least one of them, or warm-up is disabled (warm_connections 0). One
// reachable replica is enough to serve; a replica kept across a reload stays reached.
func (s *Set) Ready() bool {
	if len(s.Replicas) == 0 {
		return false
	}
	if s.warmConns == 0 {
		return true
	}
	for _, r := range s.Replicas {
		if r.Warmed() {
			return true
		}
	}
	return false
}

// Discovered reports whether the set's members come from DNS discovery.
func (s *Set) Discovered() bool { return s.settings.discovered }

// Close closes every replica's idle connections. Requests in flight are not
// interrupted; the set stays usable.
func (s *Set) Close() {
	for _, r := range s.Replicas {
		r.Close()
	}
}
