package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that an accepted config keeps the
// promises callers rely on without re-checking, and that it survives a marshal
// round trip unchanged (so /debug/config output is itself a valid config).
func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	for _, name := range []string{"testdata/design.yaml", "../examples/gateway.yaml"} {
		if b, err := os.ReadFile(filepath.FromSlash(name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(strings.Replace(base, "strategy: hedge", "strategy: quorum\n    quorum: {read: 1, version: {json_pointer: /a~1b}}", 1)))
	f.Add([]byte(strings.Replace(base, "routes:", "x: &a {b: 1}\nroutes:", 1)))
	f.Add([]byte("routes:\n  - <<: [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "f.yaml")
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			return
		}
		if len(c.Routes) == 0 || len(c.ReplicaSets) == 0 {
			t.Fatal("accepted a config without routes or replica sets")
		}
		for _, r := range c.Routes {
			rs := c.ReplicaSets[r.ReplicaSet]
			if rs == nil || len(rs.Replicas) == 0 {
				t.Fatalf("route %q: replica set %q missing or empty", r.Name, r.ReplicaSet)
			}
			if pc := r.Hedge.Percentile; !pc.Auto && !(pc.Fixed > 0 && pc.Fixed < 100) {
				t.Fatalf("route %q: percentile %v", r.Name, pc)
			}
			if a := r.Hedge.Auto; r.Hedge.Percentile.Auto && !(a.MaxExtraLoad > 0 && a.MaxExtraLoad <= r.Budget.Ratio) {
				t.Fatalf("route %q: auto with max_extra_load %v, budget.ratio %v", r.Name, a.MaxExtraLoad, r.Budget.Ratio)
			}
			if r.Strategy == StrategyQuorum && (r.Quorum.Read < 1 || r.Quorum.Read > len(rs.Replicas)) {
				t.Fatalf("route %q: read %d of %d", r.Name, r.Quorum.Read, len(rs.Replicas))
			}
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate rejects what Parse accepted: %v", err)
		}
		checkRoundTrip(t, c)
	})
}
