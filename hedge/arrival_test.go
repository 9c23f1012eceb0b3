package hedge

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hedgegate/hedgegate/replicas"
)

// waitingProbe stands for a connection whose answer does (or does not) wait unread.
type waitingProbe struct{ waiting atomic.Bool }

func (p *waitingProbe) AnswerWaiting() bool { return p.waiting.Load() }

// arrivalTransport is a fakeTransport whose attempts to one host report their answer
// awaited on probe while they run, as hedgegate's HTTP/1.1 client does.
type arrivalTransport struct {
	*fakeTransport
	host  string
	probe *waitingProbe
}

func (t *arrivalTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == t.host {
		a := replicas.ArrivalFrom(req.Context())
		a.Await(t.probe)
		defer a.Await(nil)
	}
	return t.fakeTransport.RoundTrip(req)
}

// A hedge is held back while the attempt it would back up has its answer waiting
// unread (the gateway is behind, not the replica), at most maxHolds times; with no
// answer waiting it goes at its delay, as before.
func TestHedgeHeldWhileTheAnswerWaitsUnread(t *testing.T) {
	const delay = 5 * time.Millisecond
	cases := []struct {
		name       string
		waiting    bool
		primary    time.Duration // when a.test answers
		wantWinner string
		wantHeld   int
		wantHedge  time.Duration // when the hedge went; 0: none
	}{
		{"answer waiting, read before the hedge is due again", true, 12 * time.Millisecond, "r1", 2, 0},
		{"answer waiting that never completes", true, time.Hour, "r2", maxHolds, (maxHolds + 1) * delay},
		{"no answer waiting", false, time.Hour, "r2", 0, delay},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ft := &fakeTransport{start: time.Now(), delays: map[string][]time.Duration{
					"a.test": {tc.primary},
					"b.test": {3 * time.Millisecond},
				}}
				probe := &waitingProbe{}
				probe.waiting.Store(tc.waiting)
				obs := newRecorder()
				p, _ := newTestPlan(t, []string{"http://a.test", "http://b.test"},
					"hedge: {percentile: 95, initial_delay: 5ms}",
					Options{Transport: &arrivalTransport{ft, "a.test", probe}, Observer: obs})
				res, err := p.Do(context.Background(), get(t, "/kv/a"), nil)
				if err != nil {
					t.Fatal(err)
				}
				res.Close()
				if res.Replica != tc.wantWinner {
					t.Errorf("winner %s, want %s", res.Replica, tc.wantWinner)
				}
				if obs.held != tc.wantHeld {
					t.Errorf("%d hedges held, want %d", obs.held, tc.wantHeld)
				}
				var hedges []sentAt
				for _, s := range ft.sent {
					if s.host == "b.test" {
						hedges = append(hedges, s)
					}
				}
				switch {
				case tc.wantHedge == 0 && len(hedges) != 0:
					t.Errorf("hedge sent at %v, want none", hedges[0].at)
				case tc.wantHedge != 0 && (len(hedges) != 1 || hedges[0].at != tc.wantHedge):
					t.Errorf("hedges %+v, want one at %v", hedges, tc.wantHedge)
				}
			})
		})
	}
}
