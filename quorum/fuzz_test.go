package quorum

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hedgegate/hedgegate/config"
)

// bytesIn hands out fuzz bytes, then zeros once they run out.
type bytesIn struct {
	b []byte
	i int
}

func (r *bytesIn) next() byte {
	if r.i >= len(r.b) {
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

// fuzzVersions mixes numeric forms that are equal as numbers but not as text, opaque
// versions, and one beyond 2^64.
var fuzzVersions = []string{"1", "2", "3", "01", "10", "-1", "A", "B", "C", "18446744073709551617", "0", "-0"}

func FuzzDecide(f *testing.F) {
	f.Add([]byte{3, 0, 2, 0, 0, 1, 1, 2})
	f.Add([]byte{3, 1, 2, 1, 1, 3, 5, 5, 9})
	f.Add([]byte{5, 2, 3, 2, 2, 7, 8, 0, 4, 5, 6, 7})
	f.Add([]byte{4, 0, 1, 3, 3, 1, 2, 3, 4, 10, 11, 12})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &bytesIn{b: data}
		n := int(r.next() % 9)
		asked := n + int(r.next()%4)
		if r.next()%8 == 0 {
			asked = n / 2 // more answers than asked must not confuse it
		}
		p := Policy{Asked: asked, Read: int(r.next() % byte(asked+2))}
		if r.next()%2 == 1 {
			p.Conflict = config.ConflictLatest
		}
		switch fl := r.next() % 4; fl {
		case 1, 2, 3:
			p.Floor = &Version{Raw: fuzzVersions[int(r.next())%len(fuzzVersions)]}
			for range int(r.next() % 4) {
				p.FloorHistory = append(p.FloorHistory, Version{Raw: fuzzVersions[int(r.next())%len(fuzzVersions)]})
			}
		}
		// The client's floor, compared as the engine compares it: with AtLeast, on the
		// answer's own version (the etcd example compares another; Decide only sees
		// the flag either way).
		var min *Version
		if r.next()%3 != 0 {
			min = &Version{Raw: fuzzVersions[int(r.next())%len(fuzzVersions)]}
		}
		answers := make([]Answer, n)
		for i := range answers {
			b := r.next()
			if b%5 == 0 {
				answers[i].Err = errors.New("failed")
				continue
			}
			answers[i].Version = Version{Raw: fuzzVersions[int(b/5)%len(fuzzVersions)]}
			answers[i].BelowMin = min != nil && !AtLeast(answers[i].Version, *min)
		}
		checkDecision(t, answers, p, Decide(answers, p), false)
		checkDecision(t, answers, p, DecideAtDeadline(answers, p), true)
		for _, d := range []Decision{Decide(answers, p), DecideAtDeadline(answers, p)} {
			if d.Winner >= 0 && min != nil && !refAtLeast(answers[d.Winner].Version, *min) {
				t.Fatalf("answers %v min %v: served %v, below the client's floor", answers, *min, d.Version)
			}
		}
	})
}

// FuzzAtLeast checks the client floor's comparison against a restatement of its rule
// and the properties a floor needs: every version meets itself, two versions that
// meet each other are the same, and meeting is transitive (so a client carrying the
// version it was served is never refused that version or anything it accepts).
func FuzzAtLeast(f *testing.F) {
	f.Add("42", "42", "7")
	f.Add("042", "42", "-0")
	f.Add("18446744073709551617", "18446744073709551616", "1")
	f.Add("abc", "abc", "ab")
	f.Add("sha256:00", "00", "-")
	f.Add("+5", "5", "")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		va, vb, vc := Version{Raw: a}, Version{Raw: b}, Version{Raw: c}
		if got, want := AtLeast(va, vb), refAtLeast(va, vb); got != want {
			t.Fatalf("AtLeast(%q, %q) = %v, want %v", a, b, got, want)
		}
		if !AtLeast(va, va) {
			t.Fatalf("%q does not meet itself", a)
		}
		if AtLeast(va, vb) && AtLeast(vb, va) && !va.Equal(vb) {
			t.Fatalf("%q and %q meet each other but differ", a, b)
		}
		if AtLeast(va, vb) && AtLeast(vb, vc) && !AtLeast(va, vc) {
			t.Fatalf("%q ≥ %q ≥ %q but not %q ≥ %q", a, b, c, a, c)
		}
	})
}

// refAtLeast restates the client floor's rule without Version's methods: decimal
// integers (an optional "-", digits) compare as numbers; anything else only by text.
func refAtLeast(v, floor Version) bool {
	x, xok := refInt(v.Raw)
	y, yok := refInt(floor.Raw)
	if xok && yok {
		return x.Cmp(y) >= 0
	}
	return v.Raw == floor.Raw
}

func refInt(s string) (*big.Int, bool) {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return nil, false
	}
	return new(big.Int).SetString(s, 10)
}

// refRefused restates the floor rule independently of Policy.refuses.
func refRefused(p Policy, v Version) bool {
	if p.Floor == nil {
		return false
	}
	if v.Numeric() && p.Floor.Numeric() {
		c, _ := v.Compare(*p.Floor)
		return c < 0
	}
	if v.Raw == p.Floor.Raw {
		return false
	}
	return slices.ContainsFunc(p.FloorHistory, v.Equal)
}

func checkDecision(t *testing.T, answers []Answer, p Policy, d Decision, expired bool) {
	t.Helper()
	read := max(p.Read, 1)
	pending := max(p.Asked-len(answers), 0)
	if expired {
		pending = 0
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("answers %v policy %+v floor %v expired %v → %+v: %s",
			answers, p, p.Floor, expired, d, fmt.Sprintf(format, args...))
	}

	// Per distinct accepted version: its count and where it reached read.
	acceptedSet, completable := false, pending >= read
	firstReach, firstReachAt := -1, len(answers)
	belowMin := false
	for _, a := range answers {
		belowMin = belowMin || (a.Err == nil && a.BelowMin)
	}
	for i, a := range answers {
		if a.Err != nil || a.BelowMin || refRefused(p, a.Version) {
			continue
		}
		c := count(answers, a.Version)
		if c >= read {
			acceptedSet = true
			seen := 0
			for j, b := range answers {
				if b.Err == nil && !b.BelowMin && b.Version.Equal(a.Version) {
					seen++
					if seen == read && j < firstReachAt {
						firstReach, firstReachAt = i, j
					}
				}
			}
		}
		if pending > 0 && c+pending >= read {
			completable = true
		}
	}

	if !d.Decided {
		if expired || pending == 0 {
			fail("undecided with nothing pending")
		}
		if acceptedSet {
			fail("undecided although an accepted version has %d answers", read)
		}
		if !completable {
			fail("undecided although no agreement is possible")
		}
		if d.Winner != -1 {
			fail("undecided with a winner")
		}
		return
	}
	if d.Winner >= 0 {
		w := answers[d.Winner]
		if w.Err != nil {
			fail("winner is a failed answer")
		}
		if w.BelowMin {
			fail("winner is below the client's floor")
		}
		if !w.Version.Equal(d.Version) || firstIndex(answers, d.Version) != d.Winner {
			fail("winner is not the first answer with the decided version")
		}
		if refRefused(p, d.Version) {
			fail("winner is below the floor")
		}
		if p.Conflict != config.ConflictLatest && count(answers, d.Version) < read {
			fail("majority served a version only %d answers reported", count(answers, d.Version))
		}
		if d.Agreeing != count(answers, d.Version) {
			fail("Agreeing is not the winner's count")
		}
	}
	switch d.Result {
	case ResultAgree:
		if d.Winner < 0 || count(answers, d.Version) < read {
			fail("agree without an agreeing set")
		}
		if !answers[firstReach].Version.Equal(d.Version) {
			fail("agreeing set is not the first to reach read (want %v)", answers[firstReach].Version)
		}
	case ResultLatest:
		if p.Conflict != config.ConflictLatest || d.Winner < 0 || !d.Version.Numeric() {
			fail("bad latest")
		}
		if acceptedSet || completable {
			fail("latest while agreement was possible")
		}
		for _, a := range answers {
			if a.Err == nil && !a.BelowMin && a.Version.Numeric() && !refRefused(p, a.Version) {
				if c, _ := a.Version.Compare(d.Version); c > 0 {
					fail("latest picked %v below %v", d.Version, a.Version)
				}
			}
		}
	case ResultNoQuorum, ResultStale, ResultDeadline, ResultFloorUnmet:
		if d.Winner != -1 {
			fail("failure result with a winner")
		}
		if (d.Result == ResultFloorUnmet) != belowMin {
			fail("floor_unmet exactly when an answer was below the client's floor (%v)", belowMin)
		}
		if acceptedSet || completable {
			fail("gave up while agreement was possible")
		}
		if d.Result == ResultDeadline && (!expired || p.Asked <= len(answers)) {
			fail("deadline without expiry cutting pending attempts")
		}
		if p.Conflict == config.ConflictLatest {
			for _, a := range answers {
				if a.Err == nil && !a.BelowMin && a.Version.Numeric() && !refRefused(p, a.Version) {
					fail("latest gave up with a numeric candidate %v", a.Version)
				}
			}
		}
	default:
		fail("unknown result")
	}
}

// FuzzJSONPointer feeds arbitrary pointers and bodies (must never panic), and builds a
// JSON document from gen with a pointer to one of its values, which must be found.
func FuzzJSONPointer(f *testing.F) {
	f.Add("/kvs/0/mod_revision", []byte(`{"kvs":[{"mod_revision":"7"}]}`), []byte{3, 2, 1, 0, 4})
	f.Add("/a~1b/~0", []byte(`{"a/b":{"~":1}}`), []byte{3, 3, 9, 8, 7, 1, 1, 4, 4, 2})
	f.Add("/-", []byte(`[1,2]`), []byte{4, 3, 1, 0, 2})
	f.Add("", []byte(`"x"`), []byte{})
	f.Fuzz(func(t *testing.T, ptr string, body []byte, gen []byte) {
		if e, err := NewExtractor(config.Version{JSONPointer: ptr}); err == nil {
			v, err := e.Extract(200, http.Header{}, body)
			if err == nil && v.Raw == "" {
				t.Fatalf("pointer %q on %q: empty version without error", ptr, body)
			}
			if err != nil && !errors.Is(err, ErrNoVersion) {
				t.Fatalf("error %v does not match ErrNoVersion", err)
			}
		}

		g := &bytesIn{b: gen}
		doc := genValue(g, 0)
		path, target := pickPath(g, doc)
		ptrText := ""
		for _, tok := range path {
			ptrText += "/" + strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
		}
		want, wantOK := "", false
		switch v := target.(type) {
		case json.Number:
			want, wantOK = string(v), true
		case string:
			want, wantOK = v, v != ""
		}
		compact, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		indented, _ := json.MarshalIndent(doc, " ", "\t")
		if ptrText == "" {
			return // an empty pointer cannot be configured: it means "no json_pointer"
		}
		e, err := NewExtractor(config.Version{JSONPointer: ptrText})
		if err != nil {
			t.Fatalf("pointer %q built from %q rejected: %v", ptrText, path, err)
		}
		for _, body := range [][]byte{compact, indented} {
			v, err := e.Extract(200, nil, body)
			if wantOK && (err != nil || v.Raw != want) {
				t.Fatalf("pointer %q in %s = %q, %v; want %q", ptrText, body, v.Raw, err, want)
			}
			if !wantOK && err == nil {
				t.Fatalf("pointer %q in %s = %q; want an error for %#v", ptrText, body, v.Raw, target)
			}
		}
	})
}

var genRunes = []rune{'a', 'b', '~', '/', '0', '1', ' ', 'é', '"', '\\', '\x01', '\u2028', '<'}

func genString(g *bytesIn) string {
	var b strings.Builder
	for range int(g.next() % 6) {
		b.WriteRune(genRunes[int(g.next())%len(genRunes)])
	}
	return b.String()
}

func genNumber(g *bytesIn) json.Number {
	switch g.next() % 4 {
	case 0:
		return json.Number([]string{"0", "-0", "1.25", "2E+3", "-7e-2"}[int(g.next())%5])
	case 1:
		return json.Number("-" + strconv.Itoa(int(g.next())+1))
	}
	digits := []byte{'1' + g.next()%9}
	for range int(g.next() % 32) { // up to 33 digits: well past 2^64
		digits = append(digits, '0'+g.next()%10)
	}
	return json.Number(digits)
}

func genValue(g *bytesIn, depth int) any {
	k := g.next() % 6
	if depth >= 5 && k >= 3 {
		k %= 3
	}
	switch k {
	case 0:
		return genString(g)
	case 1:
		return genNumber(g)
	case 2:
		return []any{true, false, nil}[int(g.next())%3]
	case 3, 4:
		m := map[string]any{}
		for range int(g.next() % 4) {
			m[genString(g)] = genValue(g, depth+1)
		}
		return m
	}
	a := []any{}
	for range int(g.next() % 4) {
		a = append(a, genValue(g, depth+1))
	}
	return a
}

// pickPath walks from v into a value chosen by g, stopping at a scalar, an empty
// container, or when g says so.
func pickPath(g *bytesIn, v any) ([]string, any) {
	var path []string
	for {
		switch c := v.(type) {
		case map[string]any:
			if len(c) == 0 || (len(path) > 0 && g.next()%7 == 0) {
				return path, v
			}
			keys := make([]string, 0, len(c))
			for k := range c {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			k := keys[int(g.next())%len(keys)]
			path, v = append(path, k), c[k]
		case []any:
			if len(c) == 0 || (len(path) > 0 && g.next()%7 == 0) {
				return path, v
			}
			i := int(g.next()) % len(c)
			path, v = append(path, strconv.Itoa(i)), c[i]
		default:
			return path, v
		}
	}
}
