package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// discoveryBase is a valid config whose set kv finds its members in DNS. Line numbers:
//
//	1 replica_sets:   3 discovery: ...   5 - name: kv-get  7 replica_set: kv
//	2   kv:           4 routes:          6   match: ...    8 strategy: hedge
const discoveryBase = `replica_sets:
  kv:
    discovery: {dns: "kv.default.svc.cluster.local.:9101"}
routes:
  - name: kv-get
    match: /kv/{key}
    replica_set: kv
    strategy: hedge
`

func TestDiscoveryDefaults(t *testing.T) {
	c, err := Parse([]byte(discoveryBase), "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := c.ReplicaSets["kv"].Discovery
	if d == nil || *d != (Discovery{DNS: "kv.default.svc.cluster.local.:9101", Refresh: Duration(10 * time.Second), Scheme: "http", Family: "ip"}) {
		t.Errorf("discovery = %+v", d)
	}
	if got := d.Host(); got != "kv.default.svc.cluster.local" {
		t.Errorf("Host() = %q", got)
	}
	if srv := (&Discovery{SRV: "_https._tcp.kv.example."}); srv.Host() != "kv.example" {
		t.Errorf("SRV Host() = %q, want the name below the service labels", srv.Host())
	}
	// A fixed list keeps no discovery section.
	c, err = Parse([]byte(base), "b.yaml")
	if err != nil || c.ReplicaSets["kv"].Discovery != nil {
		t.Errorf("a set with replicas got discovery %+v (%v)", c.ReplicaSets["kv"].Discovery, err)
	}
}

func TestDiscoveryProblems(t *testing.T) {
	const disc = `discovery: {dns: "kv.default.svc.cluster.local.:9101"}`
	for _, tt := range []struct {
		name, old, new string
		want           string
	}{
		{"both replicas and discovery", disc, disc + "\n    replicas:\n      - {name: r1, url: \"http://127.0.0.1:1\"}",
			"d.yaml:3: replica_sets.kv.discovery: set replicas (line 4) or discovery (line 3), not both"},
		{"neither name", disc, "discovery: {refresh: 5s}",
			"d.yaml:3: replica_sets.kv.discovery: needs dns (NAME:PORT: A and AAAA records) or srv (_service._tcp.NAME: SRV records)"},
		{"dns and srv", disc, `discovery: {dns: "kv:1", srv: _http._tcp.kv}`,
			"d.yaml:3: replica_sets.kv.discovery: set dns or srv, not both"},
		{"no port", disc, `discovery: {dns: kv.default.svc}`,
			`d.yaml:3: replica_sets.kv.discovery.dns: "kv.default.svc": want NAME:PORT, such as kv.default.svc.cluster.local:9101`},
		{"port 0", disc, `discovery: {dns: "kv:0"}`,
			`d.yaml:3: replica_sets.kv.discovery.dns: "kv:0": port "0" is not a number in 1-65535`},
		{"an address", disc, `discovery: {dns: "10.0.0.5:9101"}`,
			`d.yaml:3: replica_sets.kv.discovery.dns: "10.0.0.5:9101" is an address, not a name to resolve: list it under replicas`},
		{"bad name", disc, `discovery: {dns: "kv..svc:9101"}`,
			`d.yaml:3: replica_sets.kv.discovery.dns: "kv..svc:9101": each dot-separated label must have 1 to 63 characters`},
		{"bad character", disc, `discovery: {dns: "kv/1:9101"}`,
			`d.yaml:3: replica_sets.kv.discovery.dns: "kv/1:9101": a DNS name has only letters, digits, hyphens and underscores between its dots`},
		{"srv without service labels", disc, `discovery: {srv: kv.default.svc}`,
			`d.yaml:3: replica_sets.kv.discovery.srv: "kv.default.svc": want _service._tcp.NAME (RFC 2782), such as _http._tcp.kv.default.svc.cluster.local`},
		{"srv over udp", disc, `discovery: {srv: _http._udp.kv}`,
			`d.yaml:3: replica_sets.kv.discovery.srv: "_http._udp.kv": want _service._tcp.NAME (RFC 2782), such as _http._tcp.kv.default.svc.cluster.local`},
		{"refresh too short", disc, `discovery: {dns: "kv:1", refresh: 100ms}`,
			"d.yaml:3: replica_sets.kv.discovery.refresh: must be at least 1s, got 100ms"},
		{"scheme", disc, `discovery: {dns: "kv:1", scheme: grpc}`,
			`d.yaml:3: replica_sets.kv.discovery.scheme: "grpc": want http or https`},
		{"family", disc, `discovery: {dns: "kv:1", family: inet6}`,
			`d.yaml:3: replica_sets.kv.discovery.family: "inet6": want ip (A and AAAA records), ip4 (A) or ip6 (AAAA)`},
		{"unknown key", disc, `discovery: {dns: "kv:1", ttl: 5s}`,
			`d.yaml:3: replica_sets.kv.discovery.ttl: unknown key "ttl"`},
		{"quorum needs read", "strategy: hedge", "strategy: quorum",
			`d.yaml:5: routes[0].quorum.read: required with set "kv", which finds its members in DNS (write read: 2 for a set of three)`},
		{"fanout still ≥ 2", "strategy: hedge", "strategy: parallel\n    parallel: {fanout: 1}",
			"d.yaml:9: routes[0].parallel.fanout: must be ≥ 2, got 1 (1 is strategy hedge with no hedging)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(discoveryBase, tt.old) {
				t.Fatalf("discoveryBase has no %q", tt.old)
			}
			_, err := Parse([]byte(strings.Replace(discoveryBase, tt.old, tt.new, 1)), "d.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error(); !strings.HasPrefix(got, tt.want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// What a discovery set does not check, since its size changes: fanout and read above
// the members found now are fine, and so is an SRV name with a trailing dot.
func TestDiscoveryAcceptsSizesKnownOnlyAtRunTime(t *testing.T) {
	for _, edit := range []string{
		"strategy: parallel\n    parallel: {fanout: 5}",
		"strategy: quorum\n    quorum: {read: 4}",
	} {
		src := strings.Replace(discoveryBase, "strategy: hedge", edit, 1)
		src = strings.Replace(src, `dns: "kv.default.svc.cluster.local.:9101"`, `srv: _http._tcp.kv.default.svc.cluster.local., scheme: https, refresh: 1s`, 1)
		if _, err := Parse([]byte(src), "d.yaml"); err != nil {
			t.Errorf("%s: %v", edit, err)
		}
	}
}

func TestDiscoverySameMembers(t *testing.T) {
	a := &Discovery{DNS: "kv:1", Refresh: Duration(time.Second), Scheme: "http"}
	b := *a
	b.Refresh = Duration(time.Minute)
	if !a.SameMembers(&b) {
		t.Error("a new refresh finds the same members")
	}
	b.Family = "ip4"
	if a.SameMembers(&b) {
		t.Error("A records alone find other members than A and AAAA")
	}
	b.Family = a.Family
	b.Scheme = "https"
	if a.SameMembers(&b) || a.SameMembers(nil) || !(*Discovery)(nil).SameMembers(nil) {
		t.Error("another scheme, or no discovery, finds other members")
	}
}

// examples/discovery.yaml is what README and docs/config.md point to: it must load, and
// stay a discovery set (not drift back to a list).
func TestDiscoveryExampleFile(t *testing.T) {
	c, err := Load(filepath.Join("..", "examples", "discovery.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d := c.ReplicaSets["kv"].Discovery
	if d == nil || d.DNS != "localhost:9101" || d.Refresh.D() != 10*time.Second || len(c.ReplicaSets["kv"].Replicas) != 0 {
		t.Errorf("examples/discovery.yaml: kv's discovery %+v, replicas %v", d, c.ReplicaSets["kv"].Replicas)
	}
}
