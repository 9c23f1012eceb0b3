package quorum

import (
	"strconv"
	"sync"
	"testing"
)

func TestNewFloorRejectsNoKeys(t *testing.T) {
	for _, n := range []int{0, -1} {
		if _, err := NewFloor(n); err == nil {
			t.Errorf("NewFloor(%d) succeeded", n)
		}
	}
}

func floorOf(t *testing.T, f *Floor, key string) (string, []string) {
	t.Helper()
	p := f.Policy(key, Policy{Read: 2, Asked: 3})
	if p.Read != 2 || p.Asked != 3 {
		t.Fatalf("Policy lost base fields: %+v", p)
	}
	if p.Floor == nil {
		if p.FloorHistory != nil {
			t.Fatalf("history %v without a floor", p.FloorHistory)
		}
		return "", nil
	}
	var hist []string
	for _, h := range p.FloorHistory {
		hist = append(hist, h.Raw)
	}
	return p.Floor.Raw, hist
}

func TestFloorObserve(t *testing.T) {
	tests := []struct {
		name     string
		observed []string
		wantCur  string
		wantHist []string
	}{
		{"nothing observed", nil, "", nil},
		{"first", []string{"5"}, "5", nil},
		{"numeric rises", []string{"5", "7"}, "7", []string{"5"}},
		{"numeric never lowers", []string{"5", "7", "6"}, "7", []string{"5"}},
		{"numeric equal value is not a change", []string{"7", "007"}, "7", nil},
		{"numeric beyond 2^64", []string{"18446744073709551617", "18446744073709551616"}, "18446744073709551617", nil},
		{"opaque replaces", []string{"A", "B"}, "B", []string{"A"}},
		{"opaque same again is not a change", []string{"A", "B", "B"}, "B", []string{"A"}},
		{"opaque flip back moves it out of history", []string{"A", "B", "A"}, "A", []string{"B"}},
		{"opaque history is bounded", []string{"A", "B", "C", "D", "E", "F"}, "F", []string{"E", "D", "C", "B"}},
		{"empty version ignored", []string{"A", ""}, "A", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFloor(10)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range tt.observed {
				f.Observe("k", Version{Raw: v})
			}
			cur, hist := floorOf(t, f, "k")
			if cur != tt.wantCur || strconv.Quote(join(hist)) != strconv.Quote(join(tt.wantHist)) {
				t.Errorf("floor = %q %v, want %q %v", cur, hist, tt.wantCur, tt.wantHist)
			}
			if other, _ := floorOf(t, f, "other"); other != "" {
				t.Errorf("unrelated key has floor %q", other)
			}
		})
	}
}

func join(s []string) string {
	out := ""
	for _, x := range s {
		out += x + ","
	}
	return out
}

func TestFloorEvictsLeastRecent(t *testing.T) {
	f, err := NewFloor(2)
	if err != nil {
		t.Fatal(err)
	}
	f.Observe("a", Version{Raw: "1"})
	f.Observe("b", Version{Raw: "1"})
	f.Policy("a", Policy{}) // a read keeps a recent
	f.Observe("c", Version{Raw: "1"})
	if cur, _ := floorOf(t, f, "b"); cur != "" {
		t.Errorf("b should have been evicted, floor %q", cur)
	}
	if cur, _ := floorOf(t, f, "a"); cur != "1" {
		t.Errorf("a lost its floor")
	}
}

// TestFloorConcurrentObserve checks that racing Observes of numeric versions leave the
// maximum, whatever order they land in (run with -race).
func TestFloorConcurrentObserve(t *testing.T) {
	f, err := NewFloor(100)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				f.Observe("k", Version{Raw: strconv.Itoa((i*7919 + g*31) % 1000)})
				f.Policy("k", Policy{})
			}
		})
	}
	wg.Wait()
	if cur, _ := floorOf(t, f, "k"); cur != "999" {
		t.Errorf("floor = %q after concurrent observes, want 999", cur)
	}
}

// TestFloorRefusesOlderQuorum is the monotonic scenario: once the fresh
// version was served, a later quorum that can only agree on the older one is refused.
func TestFloorRefusesOlderQuorum(t *testing.T) {
	for _, tc := range []struct{ name, old, fresh string }{
		{"numeric", "41", "42"},
		{"opaque", `"etag-a"`, `"etag-b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewFloor(10)
			if err != nil {
				t.Fatal(err)
			}
			key := Key("kv-get", "/kv/x", "", nil)
			base := Policy{Read: 2, Asked: 3}
			f.Observe(key, Version{Raw: tc.old})
			d := Decide(ans(tc.fresh, tc.old, tc.fresh), f.Policy(key, base))
			if d.Result != ResultAgree || d.Version.Raw != tc.fresh {
				t.Fatalf("fresh quorum: %+v", d)
			}
			f.Observe(key, d.Version)
			d = Decide(ans(tc.old, tc.old, "!"), f.Policy(key, base))
			if d.Result != ResultStale || d.Winner != -1 {
				t.Fatalf("older quorum after fresh was served: %+v, want stale", d)
			}
		})
	}
}

func TestKey(t *testing.T) {
	base := Key("r", "/kv/a", "x=1", nil)
	distinct := map[string]string{
		"route":      Key("r2", "/kv/a", "x=1", nil),
		"path":       Key("r", "/kv/b", "x=1", nil),
		"query":      Key("r", "/kv/a", "x=2", nil),
		"body":       Key("r", "/kv/a", "x=1", []byte(`{"key":"a"}`)),
		"other body": Key("r", "/kv/a", "x=1", []byte(`{"key":"b"}`)),
		"shifted":    Key("r", "/kv/ax=1", "", nil),
	}
	seen := map[string]string{base: "base"}
	for name, k := range distinct {
		if prev, ok := seen[k]; ok {
			t.Errorf("%s and %s share key %q", name, prev, k)
		}
		seen[k] = name
	}
	if Key("r", "/kv/a", "x=1", []byte{}) != base {
		t.Error("an empty body changed the key")
	}
	first, again := Key("r", "/q", "", []byte("b")), Key("r", "/q", "", []byte("b"))
	if first != again {
		t.Error("Key is not deterministic: the floor would never find a key again")
	}
}
