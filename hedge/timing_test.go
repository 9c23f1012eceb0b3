package hedge

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeTransport answers each replica after a scripted delay on synctest's fake clock,
// so the engine's timing is checked exactly, with no network and no wall clock.
type fakeTransport struct {
	mu     sync.Mutex
	delays map[string][]time.Duration // per host: the delay of each successive call
	sent   []sentAt
	start  time.Time
}

type sentAt struct {
	host string
	at   time.Duration
}

func (f *fakeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	host := req.URL.Host
	f.sent = append(f.sent, sentAt{host, time.Since(f.start)})
	d := time.Hour
	if q := f.delays[host]; len(q) > 0 {
		d, f.delays[host] = q[0], q[1:]
	}
	f.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-req.Context().Done():
		return nil, req.Context().Err()
	case <-t.C:
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(host)), Request: req}, nil
}

func TestHedgeFiresAtTheReplicasPercentile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &fakeTransport{start: time.Now(), delays: map[string][]time.Duration{
			"a.test": {40 * time.Millisecond},
			"b.test": {3 * time.Millisecond},
		}}
		p, set := newTestPlan(t, []string{"http://a.test", "http://b.test"},
			"hedge: {percentile: 90, min_delay: 1ms, max_delay: 200ms}", Options{Transport: ft})
		// a's history: 90% at 5ms, 10% at 20ms, so its p90 is 5ms.
		for i := range 100 {
			d := 5 * time.Millisecond
			if i%10 == 0 {
				d = 20 * time.Millisecond
			}
			set.Replicas[0].Latency().Record(d)
		}
		start := time.Now()
		res, err := p.Do(context.Background(), get(t, "/kv/a"), nil)
		if err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		res.Close()
		if res.Replica != "r2" {
			t.Fatalf("winner %s, want the hedge to r2", res.Replica)
		}
		if len(ft.sent) != 2 || ft.sent[1].at < 5*time.Millisecond || ft.sent[1].at > 5*time.Millisecond+50*time.Microsecond {
			t.Fatalf("sends %+v: want the hedge at a's p90 (5ms, HDR precision)", ft.sent)
		}
		if elapsed != ft.sent[1].at+3*time.Millisecond {
			t.Errorf("answered after %v, want hedge time + 3ms", elapsed)
		}
	})
}

func TestHedgeDelayClampsAndWarmsUp(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	p, set := newTestPlan(t, []string{"http://a.test"},
		"hedge: {percentile: 50, initial_delay: 7ms, min_delay: 2ms, max_delay: 30ms}", Options{Now: c.now})
	rep := set.Replicas[0]
	if d := p.HedgeDelay(rep); d != 7*time.Millisecond {
		t.Errorf("no samples: delay %v, want initial_delay 7ms", d)
	}
	for range 60 {
		rep.Latency().Record(500 * time.Microsecond)
	}
	if d := p.HedgeDelay(rep); d != 2*time.Millisecond {
		t.Errorf("p50 0.5ms: delay %v, want min_delay 2ms", d)
	}
	for range 200 {
		rep.Latency().Record(time.Second)
	}
	c.advance(time.Second) // quantiles are cached for up to a second
	if d := p.HedgeDelay(rep); d != 30*time.Millisecond {
		t.Errorf("p50 1s: delay %v, want max_delay 30ms", d)
	}
}

func TestAutoAttemptTimeout(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	p, set := newTestPlan(t, []string{"http://a.test"}, "timeout: 800ms", Options{Now: c.now})
	rep := set.Replicas[0]
	if d := p.AttemptTimeout(rep); d != 800*time.Millisecond {
		t.Errorf("no samples: %v, want the route timeout", d)
	}
	for range 1000 {
		rep.Latency().Record(100 * time.Millisecond)
	}
	if d := p.AttemptTimeout(rep); d < 149*time.Millisecond || d > 151*time.Millisecond {
		t.Errorf("p99.9 100ms: %v, want ×1.5 = 150ms", d)
	}
	c.advance(2 * time.Minute) // the 100ms samples leave the window
	for range 999 {
		rep.Latency().Record(time.Millisecond)
	}
	c.advance(time.Second)
	if d := p.AttemptTimeout(rep); d != 800*time.Millisecond {
		t.Errorf("999 samples: %v; a p99.9 needs 1000 samples, want the route timeout", d)
	}
	rep.Latency().Record(time.Millisecond)
	c.advance(time.Second)
	if d := p.AttemptTimeout(rep); d != autoTimeoutFloor {
		t.Errorf("p99.9 1ms: %v, want the 10ms floor", d)
	}
}

func TestAttemptTimeoutTriggersRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &fakeTransport{start: time.Now(), delays: map[string][]time.Duration{
			"b.test": {time.Millisecond},
		}}
		p, _ := newTestPlan(t, []string{"http://a.test", "http://b.test"},
			"attempt_timeout: 20ms\nhedge: {initial_delay: 1s}", Options{Transport: ft, RandN: func(int64) int64 { return 0 }})
		res, err := p.Do(context.Background(), get(t, "/kv/a"), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Close()
		if res.Kind != KindRetry || ft.sent[1].at != 20*time.Millisecond {
			t.Errorf("winner %v, sends %+v: want a retry right at the 20ms attempt timeout", res.Kind, ft.sent)
		}
	})
}

func TestDeniedHedgeLooksAgainWhenTheBudgetRefills(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &fakeTransport{start: time.Now(), delays: map[string][]time.Duration{
			"b.test": {time.Millisecond},
		}}
		obs := newRecorder()
		p, _ := newTestPlan(t, []string{"http://a.test", "http://b.test"},
			"hedge: {initial_delay: 10ms}\nbudget: {ratio: 1, min_per_second: 0}", Options{Transport: ft, Observer: obs})
		done := make(chan *Result)
		go func() {
			res, err := p.Do(context.Background(), get(t, "/kv/a"), nil)
			if err != nil {
				t.Error(err)
			}
			done <- res
		}()
		// This request deposited one attempt, of which hedges may take 0.9 (the rest is
		// the retry reserve): the hedge at 10ms is denied, and so is the look 20ms later
		// (30ms). Another request arrives at 35ms and tops the hedges' share up to 1.8:
		// the next look, 40ms later (70ms), gets the hedge.
		time.Sleep(35 * time.Millisecond)
		p.Budget().request()
		res := <-done
		res.Close()
		if res.Replica != "r2" || len(ft.sent) != 2 || ft.sent[1].at != 70*time.Millisecond {
			t.Errorf("winner %s, sends %+v: want the hedge to r2 at 70ms (looks at 10, 30, 70ms)", res.Replica, ft.sent)
		}
		if obs.denied != 1 {
			t.Errorf("budget denials reported %d times, want once per request", obs.denied)
		}
	})
}

func TestAutoAttemptTimeoutOnQuorumRoutesIsTheRouteTimeout(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	p, set := newTestPlan(t, []string{"http://a.test", "http://b.test", "http://c.test"},
		"strategy: quorum\ntimeout: 700ms", Options{Now: c.now})
	rep := set.Replicas[0]
	for range 2000 {
		rep.Latency().Record(time.Millisecond)
	}
	c.advance(time.Second)
	if d := p.AttemptTimeout(rep); d != 700*time.Millisecond {
		t.Errorf("quorum auto attempt timeout %v, want the route timeout: the histogram lacks the answers the quorum cancelled", d)
	}
}

func TestSlowAttemptIsNotCutOffByItsTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// a answers at 50ms, b never: the 20ms attempt timeout sends a retry to b, and
		// a, still running, wins at 50ms. Cutting a off would have lost the answer.
		ft := &fakeTransport{start: time.Now(), delays: map[string][]time.Duration{
			"a.test": {50 * time.Millisecond},
		}}
		obs := newRecorder()
		p, _ := newTestPlan(t, []string{"http://a.test", "http://b.test"},
			"attempt_timeout: 20ms\nhedge: {initial_delay: 1s}",
			Options{Transport: ft, Observer: obs, RandN: func(int64) int64 { return 0 }})
		start := time.Now()
		res, err := p.Do(context.Background(), get(t, "/kv/a"), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Close()
		if res.Replica != "r1" || res.Kind != KindPrimary || time.Since(start) != 50*time.Millisecond {
			t.Errorf("winner %s (%v) after %v: want the slow primary's answer at 50ms", res.Replica, res.Kind, time.Since(start))
		}
		if len(ft.sent) != 2 || ft.sent[1].at != 20*time.Millisecond || obs.count("r2/retry") != 1 {
			t.Errorf("sends %+v: want a retry to r2 at the 20ms attempt timeout", ft.sent)
		}
	})
}
