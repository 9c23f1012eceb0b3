package quorum

import (
	"runtime"
	"strconv"
	"strings"
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

// floorHeap is the live heap after a GC, for measuring what a Floor holds.
func floorHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestFloorMemoryIsBoundedPerKey fills a floor with keys whose queries and versions
// are 16 KiB each (a client picks the query, a replica the version) and checks what it
// holds per key: the key is hashed and versions are Bounded, so the cost per key does
// not grow with either. Before, each key held its query and five versions: ~100 KiB.
func TestFloorMemoryIsBoundedPerKey(t *testing.T) {
	const keys = 500
	for _, tc := range []struct {
		name    string
		version func(key, i int) string
		limit   uint64 // bytes per key
	}{
		{"long queries, short versions", func(key, i int) string { return strconv.Itoa(1000*key + i) }, 500},
		{"long queries, long versions", func(key, i int) string {
			return strings.Repeat("v", 16<<10) + strconv.Itoa(1000*key+i)
		}, 900},
	} {
		t.Run(tc.name, func(t *testing.T) {
			query := strings.Repeat("q", 16<<10)
			before := floorHeap()
			f, err := NewFloor(keys)
			if err != nil {
				t.Fatal(err)
			}
			for k := range keys {
				key := Key("r", "/kv/"+strconv.Itoa(k), query+strconv.Itoa(k), nil)
				// Opaque versions, so each key keeps a full history besides its current one.
				for i := range historyLen + 1 {
					f.Observe(key, Version{Raw: "e" + tc.version(k, i)})
				}
			}
			perKey := (floorHeap() - min(before, floorHeap())) / keys
			runtime.KeepAlive(f)
			t.Logf("%d bytes per key (%d keys; at max_keys 100000: %.1f MB)", perKey, keys, float64(perKey)*100000/1e6)
			if perKey > tc.limit {
				t.Errorf("%d bytes per key, want ≤ %d", perKey, tc.limit)
			}
			if cur, hist := floorOf(t, f, Key("r", "/kv/7", query+"7", nil)); cur == "" || len(hist) != historyLen {
				t.Errorf("key 7: floor %.20q history %d, want a floor with a full history", cur, len(hist))
			}
		})
	}
}

// A version longer than MaxStoredVersionBytes is stored as a digest, and answers are
// compared through the same digest: a long version served before and since replaced
// is still refused, the current one still accepted.
func TestFloorLongVersions(t *testing.T) {
	f, err := NewFloor(10)
	if err != nil {
		t.Fatal(err)
	}
	long := func(s string) Version { return Version{Raw: strings.Repeat("x", 4096) + s} }
	key := Key("r", "/k", "", nil)
	f.Observe(key, long("A"))
	f.Observe(key, long("B"))
	p := f.Policy(key, Policy{Read: 1, Asked: 1})
	if len(p.Floor.Raw) > MaxStoredVersionBytes {
		t.Fatalf("floor stores %d bytes of version", len(p.Floor.Raw))
	}
	if d := Decide([]Answer{{Replica: "r1", Version: long("A")}}, p); d.Result != ResultStale {
		t.Errorf("the replaced long version: %s, want stale", d.Result)
	}
	if d := Decide([]Answer{{Replica: "r1", Version: long("B")}}, p); d.Result != ResultAgree {
		t.Errorf("the current long version: %s, want agree", d.Result)
	}
	if d := Decide([]Answer{{Replica: "r1", Version: long("C")}}, p); d.Result != ResultAgree {
		t.Errorf("a new long version: %s, want agree", d.Result)
	}
	if short := (Version{Raw: "42"}); Bounded(short) != short {
		t.Error("Bounded changed a short version")
	}
}
