package hedge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/replicas"
)

// withFloor is a GET of path carrying X-Min-Version: floor ("" none).
func withFloor(t *testing.T, path, floor string) *http.Request {
	req := get(t, path)
	if floor != "" {
		req.Header.Set("X-Min-Version", floor)
	}
	return req
}

// floorCase runs one request with a floor over scripted replicas a, b, c (in that
// order of preference: firstPicker) on synctest's clock.
func floorCase(t *testing.T, route string, answers map[string]fakeAnswer, req *http.Request) (*Result, error, *recorder, *versionTransport) {
	t.Helper()
	ft := &versionTransport{answers: answers}
	obs := newRecorder()
	p, _ := newTestPlan(t, abc, route, Options{Transport: ft, Observer: obs, RandN: func(int64) int64 { return 0 }})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	res, err := p.Do(ctx, req, nil)
	if res != nil {
		res.Close()
	}
	return res, err, obs, ft
}

const (
	hedgeVersioned    = "version: {header: X-Version}\nhedge: {initial_delay: 1s}"
	parallelVersioned = "version: {header: X-Version}\nstrategy: parallel\nparallel: {fanout: 2}"
)

// An answer below the floor is not served: the next attempt goes to a replica not
// tried yet, as a retry (kind retry, spending the budget), and that answer wins.
func TestFloorStaleAnswerIsRetriedElsewhere(t *testing.T) {
	for _, tc := range []struct {
		name, route string
		answers     map[string]fakeAnswer
		want        string   // replica served
		attempts    []string // replica/kind sent
	}{
		{"hedge: stale primary, fresh retry", hedgeVersioned,
			map[string]fakeAnswer{"a.test": {time.Millisecond, "5"}, "b.test": {time.Millisecond, "7"}},
			"r2", []string{"r1/primary", "r2/retry"}},
		{"hedge: two stale before a fresh one", hedgeVersioned,
			map[string]fakeAnswer{"a.test": {time.Millisecond, "6"}, "b.test": {time.Millisecond, "5"}, "c.test": {time.Millisecond, "8"}},
			"r3", []string{"r1/primary", "r2/retry", "r3/retry"}},
		{"parallel: both planned attempts stale, the third replica fresh", parallelVersioned,
			map[string]fakeAnswer{"a.test": {time.Millisecond, "5"}, "b.test": {2 * time.Millisecond, "6"}, "c.test": {time.Millisecond, "7"}},
			"r3", []string{"r1/primary", "r2/primary", "r3/retry"}},
		{"parallel: the fresh planned attempt wins, slower but fresh", parallelVersioned,
			map[string]fakeAnswer{"a.test": {time.Millisecond, "5"}, "b.test": {5 * time.Millisecond, "9"}},
			"r2", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				res, err, obs, _ := floorCase(t, tc.route, tc.answers, withFloor(t, "/kv/a", "7"))
				if err != nil {
					t.Fatal(err)
				}
				host := map[string]string{"r1": "a.test", "r2": "b.test", "r3": "c.test"}[tc.want]
				if res.Replica != tc.want || res.Version != tc.answers[host].version {
					t.Errorf("served %s version %q, want %s with %s", res.Replica, res.Version, tc.want, tc.answers[host].version)
				}
				for _, a := range tc.attempts {
					if obs.count(a) != 1 {
						t.Errorf("attempts %v, want %v", obs.attempts, tc.attempts)
						break
					}
				}
				if obs.stale["r1"] != 1 {
					t.Errorf("stale answers %v, want r1's counted", obs.stale)
				}
				if obs.unmet != 0 {
					t.Errorf("floor unmet reported for a served request")
				}
			})
		})
	}
}

// Without a floor the same stale replica is served: the version only labels it.
func TestNoFloorServesAnyVersion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		res, err, obs, _ := floorCase(t, hedgeVersioned,
			map[string]fakeAnswer{"a.test": {time.Millisecond, "5"}, "b.test": {time.Millisecond, "7"}}, get(t, "/kv/a"))
		if err != nil || res.Replica != "r1" || res.Version != "5" || len(obs.stale) != 0 {
			t.Fatalf("got %v %v stale %v, want r1's version 5 served", res, err, obs.stale)
		}
	})
}

// No replica reaches the floor: OutcomeFloorUnmet (the gateway's 503), listing every
// replica asked with its version and why it was refused.
func TestFloorUnmetListsEveryReplica(t *testing.T) {
	for _, route := range []string{hedgeVersioned, parallelVersioned, "strategy: quorum\nquorum: {read: 2, version: {header: X-Version}}"} {
		quorumRoute := strings.Contains(route, "quorum")
		t.Run(strings.Fields(route)[2], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				answers := map[string]fakeAnswer{"a.test": {time.Millisecond, "5"}, "b.test": {2 * time.Millisecond, "6"}, "c.test": {3 * time.Millisecond, ""}}
				_, err, obs, _ := floorCase(t, route, answers, withFloor(t, "/kv/a", "9"))
				var e *Error
				if !errors.As(err, &e) || e.Outcome != OutcomeFloorUnmet {
					t.Fatalf("got %v, want OutcomeFloorUnmet", err)
				}
				if e.MinVersion != "9" || !strings.Contains(e.Message, "minimum version 9") {
					t.Errorf("error %q min %q, want the floor named", e.Message, e.MinVersion)
				}
				got := attemptsByReplica(e)
				if got["r1"].Version != "5" || got["r2"].Version != "6" || len(got) != 3 {
					t.Errorf("attempts %+v, want every replica with its version", e.Attempts)
				}
				r3 := "stale: no version to compare with the requested minimum 9: no X-Version header"
				if quorumRoute {
					// Two stale answers leave one pending, too few to agree: decided
					// without waiting for the third.
					r3 = "cancelled"
				}
				if !strings.HasPrefix(got["r1"].Error, "stale: version 5 is below the requested minimum 9") ||
					!strings.HasPrefix(got["r3"].Error, r3) {
					t.Errorf("attempt errors %q, %q", got["r1"].Error, got["r3"].Error)
				}
				if obs.unmet != 1 || obs.stale["r1"] != 1 || obs.stale["r2"] != 1 || (obs.stale["r3"] == 1) == quorumRoute {
					t.Errorf("observer: unmet %d stale %v", obs.unmet, obs.stale)
				}
				if quorumRoute && obs.quorum["floor_unmet"] != 1 {
					t.Errorf("quorum results %v, want floor_unmet", obs.quorum)
				}
			})
		})
	}
}

// Opaque versions meet a floor only when equal: an ETag that is not the one the
// client carries is refused, whichever way it sorts.
func TestFloorOpaqueVersionsCompareByEquality(t *testing.T) {
	answers := map[string]fakeAnswer{"a.test": {time.Millisecond, `"v9"`}, "b.test": {2 * time.Millisecond, `"v2"`}, "c.test": {3 * time.Millisecond, "7"}}
	for _, tc := range []struct{ floor, want string }{{`"v2"`, "r2"}, {`"v9"`, "r1"}, {`"v5"`, ""}} {
		t.Run(tc.floor, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				res, err, _, _ := floorCase(t, hedgeVersioned, answers, withFloor(t, "/kv/a", tc.floor))
				if tc.want == "" {
					var e *Error
					if !errors.As(err, &e) || e.Outcome != OutcomeFloorUnmet {
						t.Fatalf("got %v, want floor unmet: no replica holds %s", err, tc.floor)
					}
					return
				}
				if err != nil || res.Replica != tc.want || res.Version != tc.floor {
					t.Fatalf("got %+v %v, want %s serving %s", res, err, tc.want, tc.floor)
				}
			})
		})
	}
}

// The floor's next attempt is a retry whatever retry.on says, but only as the budget
// allows: an empty budget ends the request as floor unmet, not with the stale answer.
func TestFloorRetriesSpendTheBudget(t *testing.T) {
	answers := map[string]fakeAnswer{"a.test": {time.Millisecond, "5"}, "b.test": {time.Millisecond, "7"}}
	t.Run("retry.on empty still moves on", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			res, err, obs, _ := floorCase(t, hedgeVersioned+"\nretry: {on: []}", answers, withFloor(t, "/kv/a", "7"))
			if err != nil || res.Replica != "r2" || obs.count("r2/retry") != 1 {
				t.Fatalf("got %v %v attempts %v, want r2 by a retry", res, err, obs.attempts)
			}
		})
	})
	t.Run("no budget", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			_, err, obs, ft := floorCase(t, hedgeVersioned+"\nbudget: {ratio: 0, min_per_second: 0}", answers, withFloor(t, "/kv/a", "7"))
			var e *Error
			if !errors.As(err, &e) || e.Outcome != OutcomeFloorUnmet || len(e.Attempts) != 1 {
				t.Fatalf("got %v, want floor unmet after the one attempt the budget allows", err)
			}
			if obs.denied != 1 || len(ft.cut) != 0 {
				t.Errorf("budget denials %d, cancelled %v", obs.denied, ft.cut)
			}
		})
	})
}

// The deadline passes with a stale answer in and the fresh replica still silent: the
// client learns its floor was not reached (503) rather than a bare 504.
func TestFloorUnmetAtTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		answers := map[string]fakeAnswer{"a.test": {time.Millisecond, "5"}, "b.test": {time.Hour, "7"}}
		ft := &versionTransport{answers: answers}
		p, _ := newTestPlan(t, abc[:2], hedgeVersioned, Options{Transport: ft})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := p.Do(ctx, withFloor(t, "/kv/a", "7"), nil)
		var e *Error
		if !errors.As(err, &e) || e.Outcome != OutcomeFloorUnmet {
			t.Fatalf("got %v, want floor unmet", err)
		}
		// Nothing stale came: a deadline, as without a floor.
		answers["a.test"] = fakeAnswer{time.Hour, "5"}
		ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := p.Do(ctx, withFloor(t, "/kv/a", "7"), nil); !errors.As(err, &e) || e.Outcome != OutcomeDeadline {
			t.Fatalf("got %v, want a deadline", err)
		}
	})
}

// A quorum counts only answers at or above the floor toward agreement.
func TestFloorQuorumCountsOnlyFreshAnswers(t *testing.T) {
	route := "strategy: quorum\nquorum: {read: 2, version: {header: X-Version}}"
	synctest.Test(t, func(t *testing.T) {
		// Two stale replicas agree on 5 first; without a floor they would win.
		answers := map[string]fakeAnswer{"a.test": {time.Millisecond, "5"}, "b.test": {2 * time.Millisecond, "5"}, "c.test": {3 * time.Millisecond, "7"}}
		res, err, _, _ := floorCase(t, route, answers, get(t, "/kv/a"))
		if err != nil || res.Quorum.Version != "5" {
			t.Fatalf("without a floor: %v %v, want the agreeing 5", res, err)
		}
		_, err, obs, _ := floorCase(t, route, answers, withFloor(t, "/kv/a", "7"))
		var e *Error
		if !errors.As(err, &e) || e.Outcome != OutcomeFloorUnmet || obs.quorum["floor_unmet"] != 1 {
			t.Fatalf("with floor 7: %v (results %v), want floor unmet: one fresh answer is no quorum", err, obs.quorum)
		}
		answers["b.test"] = fakeAnswer{2 * time.Millisecond, "7"}
		res, err, obs, _ = floorCase(t, route, answers, withFloor(t, "/kv/a", "7"))
		if err != nil || res.Quorum.Version != "7" || res.Version != "7" || res.Quorum.Agreeing != 2 || obs.stale["r1"] != 1 {
			t.Fatalf("got %+v %v stale %v, want 7 agreed by the two fresh replicas", res, err, obs.stale)
		}
	})
}

// etcd's shape: replicas agree on the key's revision (quorum.version) while the
// client's floor is compared with the store-wide revision (version) in the body.
func TestFloorQuorumWithItsOwnVersion(t *testing.T) {
	route := "strategy: quorum\nversion: {json_pointer: /header/revision}\nquorum: {read: 2, version: {header: X-Version}}"
	// Every replica holds key revision 3; r1's store is behind. r2 answers last, so
	// that r3's answer is in before any decision.
	ft := etcdLike{"a.test": {time.Millisecond, 10}, "b.test": {3 * time.Millisecond, 12}, "c.test": {2 * time.Millisecond, 13}}
	for _, tc := range []struct {
		floor string
		want  string // replica served; "" floor unmet
	}{{"12", "r3"}, {"13", ""}} {
		t.Run(tc.floor, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, _ := newTestPlan(t, abc, route, Options{Transport: ft})
				res, err := p.Do(context.Background(), withFloor(t, "/kv/a", tc.floor), nil)
				if tc.want != "" {
					if err != nil {
						t.Fatal(err)
					}
					defer res.Close()
					b, _ := io.ReadAll(res.Response.Body)
					if res.Replica != tc.want || res.Quorum.Version != "3" || res.Quorum.Agreeing != 2 || res.Version != "13" ||
						!strings.Contains(string(b), `"revision": "13"`) {
						t.Errorf("served %s %+v version %s body %s, want r3 (with r2) agreeing on key revision 3", res.Replica, res.Quorum, res.Version, b)
					}
					return
				}
				var e *Error
				if !errors.As(err, &e) || e.Outcome != OutcomeFloorUnmet {
					t.Fatalf("got %v, want floor unmet (only r3 reached 13)", err)
				}
				got := attemptsByReplica(e)
				if got["r3"].Version != "13" || got["r3"].Agreed != "3" || got["r1"].Version != "10" || got["r2"].Version != "12" {
					t.Errorf("attempts %+v, want store revisions as version and r3's key revision as quorum_version", e.Attempts)
				}
			})
		})
	}
}

// etcdLike answers each host after a delay on synctest's clock with X-Version 3 (the
// key's revision) and a body carrying its store revision.
type etcdLike map[string]struct {
	delay    time.Duration
	storeRev int
}

func (f etcdLike) RoundTrip(req *http.Request) (*http.Response, error) {
	a := f[req.URL.Host]
	select {
	case <-req.Context().Done():
		return nil, req.Context().Err()
	case <-time.After(a.delay):
	}
	body := fmt.Sprintf(`{"header": {"revision": "%d"}, "kvs": [{"mod_revision": "3"}]}`, a.storeRev)
	return &http.Response{StatusCode: 200, Header: http.Header{"X-Version": {"3"}}, ContentLength: int64(len(body)),
		Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
}

// A floor the plan cannot honour is refused before anything is sent.
func TestBadMinVersion(t *testing.T) {
	r1 := newBackend(t, "r1", versioned("r1", "7"))
	versionedPlan, _ := newTestPlan(t, urls(r1), "version: {header: X-Version}", Options{})
	plain, _ := newTestPlan(t, urls(r1), "", Options{})
	twice := get(t, "/kv/a")
	twice.Header.Add("X-Min-Version", "5")
	twice.Header.Add("X-Min-Version", "6")
	for _, tc := range []struct {
		name string
		p    *Plan
		ctx  context.Context
		req  *http.Request
		want string
	}{
		{"two headers", versionedPlan, context.Background(), twice, "X-Min-Version: send one version, got 2 headers"},
		{"empty header", versionedPlan, context.Background(), withFloor(t, "/kv/a", " "), "X-Min-Version: empty"},
		{"a floor from Go on a plan without a version", plain, WithMinVersion(context.Background(), "5"), get(t, "/kv/a"),
			`hedge.WithMinVersion: route "rt" has no version to compare a floor with`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.p.Do(tc.ctx, tc.req, nil)
			var e *Error
			if !errors.As(err, &e) || e.Outcome != OutcomeBadMinVersion || !strings.HasPrefix(e.Message, tc.want) {
				t.Fatalf("got %v, want OutcomeBadMinVersion %q", err, tc.want)
			}
		})
	}
	// The header means nothing on a route without a version: passed on, unread.
	if _, _, err := do(t, plain, withFloor(t, "/kv/a", "99"), nil); err != nil {
		t.Fatal(err)
	}
	if r1.calls.Load() != 1 {
		t.Errorf("replica called %d times, want once (by the plain route)", r1.calls.Load())
	}
}

// The context's floor wins over the header's.
func TestWithMinVersionWinsOverTheHeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &versionTransport{answers: map[string]fakeAnswer{"a.test": {time.Millisecond, "5"}, "b.test": {time.Millisecond, "7"}}}
		p, _ := newTestPlan(t, abc[:2], hedgeVersioned, Options{Transport: ft})
		res, err := p.Do(WithMinVersion(context.Background(), "6"), withFloor(t, "/kv/a", "1"), nil)
		if err != nil || res.Replica != "r2" {
			t.Fatalf("got %v %v, want r2: the context's floor 6, not the header's 1", res, err)
		}
		res.Close()
	})
}

// A version in the body: hedge reads each answer whole, serves the winner's body with
// its length, and a HEAD goes out as GET so it has a version too.
func TestBodyVersionOnAHedgeRoute(t *testing.T) {
	stale := newBackend(t, "r1", jsonVersioned("5", 10))
	fresh := newBackend(t, "r2", jsonVersioned("7", 10000))
	p, _ := newTestPlan(t, urls(stale, fresh), "version: {json_pointer: /version}", Options{})
	body, res, err := do(t, p, withFloor(t, "/kv/a", "7"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Replica != "r2" || res.Version != "7" || res.Response.ContentLength != int64(len(body)) || len(body) < 10000 {
		t.Errorf("served %s version %s, %d bytes with length %d", res.Replica, res.Version, len(body), res.Response.ContentLength)
	}
	head := withFloor(t, "/kv/a", "7")
	head.Method = http.MethodHead
	body, res, err = do(t, p, head, nil)
	if err != nil || body != "" || res.Version != "7" || res.Response.Header.Get("Content-Length") == "" {
		t.Fatalf("HEAD: %q %+v %v, want headers only, with version 7 and the real length", body, res, err)
	}
}

// The highest version each replica answered with is kept for /debug/replicas.
func TestHighestVersionPerReplica(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &versionTransport{answers: map[string]fakeAnswer{"a.test": {time.Millisecond, "40"}}}
		p, set := newTestPlan(t, abc, hedgeVersioned, Options{Transport: ft})
		rep := func(name string) *replicas.Replica {
			return set.Replicas[slices.IndexFunc(set.Replicas, func(r *replicas.Replica) bool { return r.Name == name })]
		}
		for _, v := range []string{"40", "42", "41", `"etag"`} {
			ft.answers["a.test"] = fakeAnswer{time.Millisecond, v}
			res, err := p.Do(context.Background(), get(t, "/kv/a"), nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Response.Body)
			res.Close()
		}
		if got := p.HighestVersion(rep("r1")); got != "42" {
			t.Errorf("r1: highest %q, want 42 (numeric beats the later opaque one)", got)
		}
		if got := p.HighestVersion(rep("r2")); got != "" {
			t.Errorf("r2: %q, want none yet", got)
		}
	})
}

// A stale attempt is traced as such.
func TestTracerSeesStaleAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &versionTransport{answers: map[string]fakeAnswer{"a.test": {time.Millisecond, "5"}, "b.test": {time.Millisecond, "7"}}}
		tr := &traceRecorder{}
		p, _ := newTestPlan(t, abc[:2], hedgeVersioned, Options{Transport: ft, Tracer: tr, RandN: func(int64) int64 { return 0 }})
		res, err := p.Do(context.Background(), withFloor(t, "/kv/a", "7"), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Close()
		want := []tracedAttempt{{"r1", KindPrimary, 0, AttemptStale, 200, "stale", 1}, {"r2", KindRetry, 0, AttemptWon, 200, "", 1}}
		if !slices.Equal(tr.seen, want) {
			t.Errorf("traced %+v, want %+v", tr.seen, want)
		}
	})
}

// A reload keeps the versions each replica was seen with while the route's version is
// unchanged, and forgets them when it changes (they would be another version's).
func TestReloadKeepsTheVersionsSeen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &versionTransport{answers: map[string]fakeAnswer{"a.test": {time.Millisecond, "42"}}}
		cfg, rc := testConfig(t, abc, hedgeVersioned)
		set, err := replicas.NewSet("s", cfg.ReplicaSets["s"], cfg.Latency, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer set.Close()
		old, err := NewPlan(rc, set, Options{Transport: ft, Picker: firstPicker{}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := old.Do(context.Background(), get(t, "/kv/a"), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Close()
		same, _ := NewPlan(rc, set, Options{Previous: old})
		changed := *rc
		changed.Version = &config.Version{Header: "ETag"}
		other, _ := NewPlan(&changed, set, Options{Previous: old})
		r1 := set.Replicas[0]
		if got := same.HighestVersion(r1); got != "42" {
			t.Errorf("unchanged version: %q after the reload, want 42 kept", got)
		}
		if got := other.HighestVersion(r1); got != "" {
			t.Errorf("another version: %q, want nothing carried over", got)
		}
	})
}
