package hedge

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hedgegate/hedgegate/replicas"
)

// raceFastest is a strategy the gateway does not offer, written here against the seam
// alone: send to the two replicas with the lowest median latency at once, serve the
// first acceptable answer (the collector hedge and parallel use), send nothing more.
type raceFastest struct{}

func (raceFastest) mode() attemptMode { return attemptMode{maxAttempts: 2, read: readAhead} }

func (raceFastest) begin(req *http.Request, _ []byte) (*http.Request, scheduler, collector) {
	r := &raceRequest{}
	return req, r, r
}

type raceRequest struct{ firstAnswer }

func (*raceRequest) start(l launcher) {
	c := slices.Clone(l.untried())
	slices.SortStableFunc(c, func(a, b *replicas.Replica) int {
		return int(a.Latency().Quantile(50) - b.Latency().Quantile(50))
	})
	for _, rep := range c[:min(2, len(c))] {
		l.launch(KindPrimary, rep, 0)
	}
}

func (*raceRequest) ended(launcher, *attempt) {}
func (*raceRequest) slow(launcher, *attempt)  {}
func (*raceRequest) wake(launcher)            {}

func TestAStrategyWrittenOutsideTheEngine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &fakeTransport{start: time.Now(), delays: map[string][]time.Duration{
			"a.test": {time.Millisecond}, "b.test": {4 * time.Millisecond}, "c.test": {2 * time.Millisecond},
		}}
		obs := newRecorder()
		p, set := newTestPlan(t, abc, "", Options{Transport: ft, Observer: obs})
		p.use(raceFastest{})
		// By their histories a is the slowest replica (though it would answer first
		// now), c the fastest, b next.
		for i, d := range []time.Duration{30 * time.Millisecond, 5 * time.Millisecond, time.Millisecond} {
			for range 10 {
				set.Replicas[i].Latency().Record(d)
			}
		}
		res, err := p.Do(context.Background(), get(t, "/kv/a"), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Close()
		if len(ft.sent) != 2 || ft.sent[0].at != 0 || ft.sent[1].at != 0 ||
			!slices.ContainsFunc(ft.sent, func(s sentAt) bool { return s.host == "b.test" }) ||
			!slices.ContainsFunc(ft.sent, func(s sentAt) bool { return s.host == "c.test" }) {
			t.Errorf("sends %+v: want b and c, the two fastest by history, both at once", ft.sent)
		}
		if res.Replica != "r3" || res.Kind != KindPrimary || obs.count("r1/primary") != 0 {
			t.Errorf("winner %s (%v), attempts %v: want c's answer, a never asked", res.Replica, res.Kind, obs.attempts)
		}
	})
}

// tracedTransport records the trace key each request's context carried, and answers
// with status instead of 200 for the hosts listed.
type tracedTransport struct {
	inner  http.RoundTripper
	status map[string]int
	mu     sync.Mutex
	traced []string
}

type traceKey struct{}

func (f *tracedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if v, ok := req.Context().Value(traceKey{}).(string); ok {
		f.mu.Lock()
		f.traced = append(f.traced, v)
		f.mu.Unlock()
	}
	resp, err := f.inner.RoundTrip(req)
	if code := f.status[req.URL.Host]; err == nil && code != 0 {
		resp.StatusCode = code
	}
	return resp, err
}

// traceRecorder is a Tracer that keeps every attempt's start and end.
type traceRecorder struct {
	mu   sync.Mutex
	seen []tracedAttempt
}

type tracedAttempt struct {
	replica string
	kind    Kind
	delay   time.Duration
	outcome AttemptOutcome
	status  int
	failure string
	ends    int
}

func (tr *traceRecorder) StartAttempt(ctx context.Context, s AttemptStart) (context.Context, func(AttemptEnd)) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	i := len(tr.seen)
	tr.seen = append(tr.seen, tracedAttempt{replica: s.Replica, kind: s.Kind, delay: s.Delay})
	return context.WithValue(ctx, traceKey{}, s.Replica), func(e AttemptEnd) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.seen[i].outcome, tr.seen[i].status, tr.seen[i].failure = e.Outcome, e.Status, e.Failure
		tr.seen[i].ends++
	}
}

func TestTracerSeesEveryAttemptsLaunchAndOutcome(t *testing.T) {
	for _, tc := range []struct {
		name    string
		route   string
		answers map[string]fakeAnswer
		status  map[string]int
		want    []tracedAttempt // in launch order
	}{
		{"hedge wins over a stuck primary", "hedge: {initial_delay: 5ms}",
			map[string]fakeAnswer{"b.test": {time.Millisecond, ""}}, nil,
			[]tracedAttempt{{"r1", KindPrimary, 0, AttemptCancelled, 0, "cancelled", 1}, {"r2", KindHedge, 5 * time.Millisecond, AttemptWon, 200, "", 1}}},
		{"a 503 retried", "hedge: {initial_delay: 1s}",
			map[string]fakeAnswer{"a.test": {time.Millisecond, ""}, "b.test": {time.Millisecond, ""}}, map[string]int{"a.test": 503},
			[]tracedAttempt{{"r1", KindPrimary, 0, AttemptFailed, 503, "status", 1}, {"r2", KindRetry, 0, AttemptWon, 200, "", 1}}},
		{"quorum", quorumHeaderRoute,
			map[string]fakeAnswer{"a.test": {time.Millisecond, "7"}, "b.test": {2 * time.Millisecond, "7"}}, nil,
			[]tracedAttempt{{"r1", KindPrimary, 0, AttemptWon, 200, "", 1}, {"r2", KindPrimary, 0, AttemptLost, 200, "", 1},
				{"r3", KindPrimary, 0, AttemptCancelled, 0, "cancelled", 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ft := &tracedTransport{inner: &versionTransport{answers: tc.answers}, status: tc.status}
				tr := &traceRecorder{}
				p, _ := newTestPlan(t, abc, tc.route, Options{Transport: ft, Tracer: tr, RandN: func(int64) int64 { return 0 }})
				res, err := p.Do(context.Background(), get(t, "/kv/a"), nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(tr.seen) == 0 || tr.seen[0].ends != 0 {
					t.Errorf("an attempt's end was reported before the request was done with it: %+v", tr.seen)
				}
				res.Close()
				if !slices.Equal(tr.seen, tc.want) {
					t.Errorf("traced %+v\nwant   %+v", tr.seen, tc.want)
				}
				if len(ft.traced) != len(tc.want) {
					t.Errorf("requests carried the attempt's context %d times, want %d", len(ft.traced), len(tc.want))
				}
			})
		})
	}
}
