package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Validate checks c as a whole and returns Problems listing everything wrong, or nil.
// Parse and Load already call it; it is for configs built or changed in code. It
// does not apply defaults, so every field must be set.
func (c *Config) Validate() error {
	if ps := validate(c, c.lines, nil); len(ps) > 0 {
		return ps
	}
	return nil
}

type validator struct {
	file  string
	lines map[string]int
	bad   map[string]bool // already reported while decoding
	probs Problems
}

func validate(c *Config, lines map[string]int, bad map[string]bool) Problems {
	v := &validator{file: c.Source, lines: lines, bad: bad}
	v.listeners(c)
	v.tls(c)
	v.log(&c.Log)
	v.limits(&c.Limits)
	v.latency(&c.Latency)
	v.positiveDuration("shutdown.timeout", c.Shutdown.Timeout)
	v.tracing(&c.Tracing)
	for i, cidr := range c.TrustedProxies {
		if _, err := ParsePrefix(cidr); err != nil {
			v.add("trusted_proxies["+strconv.Itoa(i)+"]", "%v", err)
		}
	}

	if len(c.ReplicaSets) == 0 {
		v.add("replica_sets", "at least one replica set is required")
	}
	names := make([]string, 0, len(c.ReplicaSets))
	for name := range c.ReplicaSets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v.replicaSet(joinKey("replica_sets", name), name, c.ReplicaSets[name])
	}

	if len(c.Routes) == 0 {
		v.add("routes", "at least one route is required")
	}
	byName := map[string]int{}
	for i, r := range c.Routes {
		p := "routes[" + strconv.Itoa(i) + "]"
		if r == nil {
			v.add(p, "empty route")
			continue
		}
		if first, dup := byName[r.Name]; dup && r.Name != "" {
			v.add(p+".name", "duplicate route name %q (first at routes[%d])", r.Name, first)
		} else {
			byName[r.Name] = i
		}
		for j := range i {
			if o := c.Routes[j]; o != nil && o.Match == r.Match && r.Match != "" {
				if m := overlap(o.Methods, r.Methods); m != "" {
					other := "routes[" + strconv.Itoa(j) + "]"
					if l := v.lineOf(other + ".match"); l > 0 {
						other += " (line " + strconv.Itoa(l) + ")"
					}
					v.add(p+".match", "%s already serves %s %s; the router keeps only one", other, m, r.Match)
					break
				}
			}
		}
		v.route(p, r, c.ReplicaSets, names, c.Latency.Buckets)
	}
	return v.probs
}

func (v *validator) add(path, format string, args ...any) {
	if v.bad[path] {
		return
	}
	v.probs = append(v.probs, Problem{File: v.file, Line: v.lineOf(path), Path: path, Message: fmt.Sprintf(format, args...)})
}

// lineOf is the line of path's key, or of its nearest enclosing key in the file.
func (v *validator) lineOf(path string) int {
	for {
		if l, ok := v.lines[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		path = parentPath(path)
	}
}

func (v *validator) positive(path string, n int64) {
	if n <= 0 {
		v.add(path, "must be > 0, got %d", n)
	}
}

func (v *validator) positiveDuration(path string, d Duration) {
	if d <= 0 {
		v.add(path, "must be > 0, got %s", d)
	}
}

func (v *validator) listeners(c *Config) {
	type listener struct{ key, addr, host, port string }
	var ok []listener
	for _, l := range []struct{ key, addr string }{
		{"listen", c.Listen}, {"admin_listen", c.AdminListen}, {"metrics_listen", c.MetricsListen},
	} {
		if l.key == "metrics_listen" && l.addr == "" {
			continue // optional
		}
		if h, p, good := v.hostPort(l.key, l.addr); good {
			ok = append(ok, listener{l.key, l.addr, h, p})
		}
	}
	for i, b := range ok {
		for _, a := range ok[:i] {
			// Port 0 picks a free port, so two :0 listeners do not collide.
			if a.port == b.port && a.port != "0" && (a.host == b.host || wildcard(a.host) || wildcard(b.host)) {
				v.add(b.key, "%q collides with %s %q", b.addr, a.key, a.addr)
			}
		}
	}
}

func wildcard(host string) bool { return host == "" || host == "0.0.0.0" || host == "::" }

func (v *validator) hostPort(path, addr string) (host, port string, ok bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(path, "want host:port: %v", err)
		return "", "", false
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add(path, "port %q is not a number in 0-65535", port)
		return "", "", false
	}
	return host, port, true
}

func (v *validator) limits(l *Limits) {
	v.positive("limits.max_inflight", int64(l.MaxInflight))
	v.positive("limits.max_request_body_bytes", l.MaxRequestBodyBytes)
	v.positive("limits.max_response_body_bytes", l.MaxResponseBodyBytes)
	v.positive("limits.max_header_bytes", int64(l.MaxHeaderBytes))
}

func (v *validator) latency(l *Latency) {
	v.positiveDuration("latency.window", l.Window)
	if l.Buckets < 1 || l.Buckets > 60 {
		v.add("latency.buckets", "must be in [1,60], got %d", l.Buckets)
	}
	if l.MinSamples < 1 {
		v.add("latency.min_samples", "must be ≥ 1, got %d", l.MinSamples)
	}
}

func (v *validator) replicaSet(p, name string, rs *ReplicaSet) {
	if name == "" {
		v.add(p, "a replica set name must not be empty")
	}
	if rs == nil {
		rs = &ReplicaSet{}
	}
	switch {
	case rs.Discovery != nil && len(rs.Replicas) > 0:
		v.add(p+".discovery", "set replicas (line %d) or discovery (line %d), not both",
			v.lineOf(p+".replicas"), v.lineOf(p+".discovery"))
	case rs.Discovery != nil:
		v.discovery(p+".discovery", rs.Discovery)
	case len(rs.Replicas) == 0:
		v.add(p+".replicas", "at least one replica is required (or discovery, to find them in DNS)")
	}
	v.positiveDuration(p+".connect_timeout", rs.ConnectTimeout)
	if rs.WarmConnections < 0 {
		v.add(p+".warm_connections", "must be ≥ 0, got %d", rs.WarmConnections)
	}
	v.protocol(p, rs)
	names := map[string]int{}
	urls := map[string]int{}
	for i, r := range rs.Replicas {
		rp := p + ".replicas[" + strconv.Itoa(i) + "]"
		switch first, dup := names[r.Name]; {
		case r.Name == "":
			v.add(rp+".name", "required")
		case dup:
			v.add(rp+".name", "duplicate replica name %q (first at replicas[%d])", r.Name, first)
		default:
			names[r.Name] = i
		}
		if msg := checkURL(r.URL); msg != "" {
			v.add(rp+".url", "%s", msg)
			continue
		}
		if msg := schemeForProtocol(r.URL, rs); msg != "" {
			v.add(rp+".url", "%s", msg)
		}
		// Hedging between two names for one backend doubles its load for nothing.
		key := strings.TrimRight(r.URL, "/")
		if first, dup := urls[key]; dup {
			v.add(rp+".url", "same URL as replicas[%d]", first)
		} else {
			urls[key] = i
		}
	}
}

// checkURL's messages show the URL with its password redacted.
func checkURL(raw string) string {
	if raw == "" {
		return "required"
	}
	u, err := url.Parse(raw)
	s := RedactURL(raw)
	var uerr *url.Error
	if errors.As(err, &uerr) {
		// Its text would repeat the URL, password included.
		err = fmt.Errorf("parse %q: %w", s, uerr.Err)
	}
	switch {
	case err != nil && !strings.Contains(raw, "://"):
		// "127.0.0.1:9101" fails to parse; the fix is the scheme, not the colon.
		return fmt.Sprintf("%q: want an absolute http:// or https:// URL", s)
	case err != nil:
		return fmt.Sprintf("bad URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%q: want an absolute http:// or https:// URL", s)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Sprintf("%q has no host", s)
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Sprintf("%q has a query; a replica URL is a base that request paths are appended to", s)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Sprintf("%q has a fragment", s)
	}
	return ""
}
