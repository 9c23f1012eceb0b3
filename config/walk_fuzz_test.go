package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// FuzzWalkExplainsLibrary checks the decoding's division of labour: whatever the
// library's strict decode refuses, the walk has already reported in this package's
// words, so the library's own messages never reach a user (they are only a safety
// net in Parse).
func FuzzWalkExplainsLibrary(f *testing.F) {
	f.Add([]byte(base))
	for _, name := range []string{"testdata/design.yaml", "../examples/gateway.yaml"} {
		if b, err := os.ReadFile(filepath.FromSlash(name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(strings.Replace(base, "routes:", "x: &a {b: 1}\nroutes:", 1)))
	f.Add([]byte("routes:\n  - &r {name: a, hedge: &h {percentile: 5}}\n  - {<<: *r, hedge: {<<: [*h, *h]}}\n"))
	f.Add([]byte("replica_sets: {kv: , 1: {}, ~: {}}\nroutes: [~, {methods: [~, GET]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		root, syntax := parseYAML(data, "f.yaml")
		if syntax != nil || root == nil || tooLarge(root, "f.yaml") != nil {
			return
		}
		w := newWalker("f.yaml")
		w.walk(&root, reflect.TypeFor[Config](), "")
		if len(w.probs) > 0 {
			return
		}
		if err := decodeStrict(data, &Config{}); err != nil {
			t.Fatalf("the library refused what the walk accepted: %v", err)
		}
	})
}

// A mapping the library would check pairwise for minutes is refused at once.
func TestHugeMappingRefused(t *testing.T) {
	var b strings.Builder
	b.WriteString("replica_sets:\n")
	for i := range maxMappingEntries + 1 {
		b.WriteString("  s" + strconv.Itoa(i) + ": {replicas: [{name: r, url: \"http://h:1\"}]}\n")
	}
	_, err := Parse([]byte(b.String()), "h.yaml")
	if err == nil || err.Error() != "h.yaml:2: a mapping of more than 1024 entries" {
		t.Errorf("got %v", err)
	}
}
