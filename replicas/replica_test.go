package replicas

import (
	"encoding/json"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/latency"
)

func TestBeginEnd(t *testing.T) {
	clk := newFakeClock()
	r := testReplica("r1", clk)
	end1, end2 := r.Begin(), r.Begin()
	if got := r.Inflight(); got != 2 {
		t.Fatalf("Inflight = %d, want 2", got)
	}
	end1(5*time.Millisecond, VerdictSuccess)
	end1(5*time.Millisecond, VerdictSuccess) // a second call is ignored
	if got := r.Inflight(); got != 1 {
		t.Fatalf("Inflight after one end = %d, want 1", got)
	}
	end2(7*time.Millisecond, VerdictFailure)
	st := r.Stats()
	if st.Inflight != 0 || st.Requests != 2 || st.Failures != 1 || st.Samples != 2 {
		t.Fatalf("Stats = %+v, want inflight 0, requests 2, failures 1, samples 2", st)
	}
}

func TestVerdicts(t *testing.T) {
	tests := []struct {
		name        string
		prior       time.Duration // one success recorded first; 0: none
		elapsed     time.Duration
		verdict     Verdict
		wantSamples int64
		wantErr     bool
	}{
		{"success", 0, time.Millisecond, VerdictSuccess, 1, false},
		{"fast failure without data is not a latency", 0, 100 * time.Microsecond, VerdictFailure, 0, true},
		{"fast failure is not a latency", 10 * time.Millisecond, 100 * time.Microsecond, VerdictFailure, 1, true},
		{"slow failure is a lower bound", 10 * time.Millisecond, time.Second, VerdictFailure, 2, true},
		{"loser without data is a lower bound", 0, 30 * time.Millisecond, VerdictCancelled, 1, false},
		{"fast loser is not a latency", 10 * time.Millisecond, time.Millisecond, VerdictCancelled, 1, false},
		{"slow loser is a lower bound", 10 * time.Millisecond, 50 * time.Millisecond, VerdictCancelled, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			r := testReplica("r", clk)
			if tt.prior > 0 {
				feed(r, 1, tt.prior, VerdictSuccess)
			}
			feed(r, 1, tt.elapsed, tt.verdict)
			st := r.Stats()
			if st.Samples != tt.wantSamples {
				t.Errorf("Samples = %d, want %d", st.Samples, tt.wantSamples)
			}
			if got := st.ErrorRate > 0; got != tt.wantErr {
				t.Errorf("ErrorRate = %v, want > 0: %v", st.ErrorRate, tt.wantErr)
			}
		})
	}
}

// A hung replica whose attempts all time out or lose must look slower and slower.
func TestHungReplicaGrows(t *testing.T) {
	clk := newFakeClock()
	r := testReplica("r", clk)
	feed(r, 20, 10*time.Millisecond, VerdictSuccess)
	before := r.Stats().EWMALatency
	for i := range 50 {
		clk.Advance(10 * time.Millisecond)
		o := VerdictCancelled
		if i%2 == 0 {
			o = VerdictFailure
		}
		feed(r, 1, 200*time.Millisecond, o)
	}
	st := r.Stats()
	if st.EWMALatency < 10*before {
		t.Errorf("EWMALatency = %v, want well above %v", st.EWMALatency, before)
	}
	if st.P90 < 150*time.Millisecond {
		t.Errorf("P90 = %v, want ≈200ms", st.P90)
	}
}

func TestErrorRateDecays(t *testing.T) {
	clk := newFakeClock()
	r := testReplica("r", clk)
	feed(r, 200, time.Millisecond, VerdictFailure)
	if got := r.ErrorRate(); got < 0.99 || got > 1 {
		t.Fatalf("ErrorRate after failures = %v, want ≈1", got)
	}
	feed(r, 10, time.Millisecond, VerdictCancelled) // losers are not errors, nor successes
	if got := r.ErrorRate(); got < 0.99 {
		t.Fatalf("ErrorRate after losers = %v, want unchanged ≈1", got)
	}
	clk.Advance(10 * time.Second) // one τ
	if got, want := r.ErrorRate(), math.Exp(-1); math.Abs(got-want) > 0.01 {
		t.Fatalf("ErrorRate one τ later = %v, want ≈%v", got, want)
	}
	feed(r, 200, time.Millisecond, VerdictSuccess)
	if got := r.ErrorRate(); got > 0.01 {
		t.Fatalf("ErrorRate after successes = %v, want ≈0", got)
	}
}

func TestStatsJSON(t *testing.T) {
	clk := newFakeClock()
	r := testReplica("r1", clk)
	r.URL = &url.URL{Scheme: "http", User: url.UserPassword("u", "secret"), Host: "127.0.0.1:1"}
	feed(r, 100, 2500*time.Microsecond, VerdictSuccess)
	st := r.Stats()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if strings.Contains(s, "secret") {
		t.Errorf("credentials leak: %s", s)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "set", "url", "inflight", "error_rate", "requests", "failures", "samples",
		"p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "ewma_latency_ms"} {
		if _, ok := m[k]; !ok {
			t.Errorf("key %q missing from %s", k, s)
		}
	}
	want := float64(latency.Reported(2500*time.Microsecond)) / float64(time.Millisecond)
	if p50 := m["p50_ms"].(float64); math.Abs(p50-want) > 0.001 {
		t.Errorf("p50_ms = %v, want %v (2.5ms to the histogram's two digits)", p50, want)
	}
	var back Stats
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Name != st.Name || back.Samples != st.Samples || (back.P50-st.P50).Abs() > time.Microsecond {
		t.Errorf("round trip: %+v, want %+v", back, st)
	}
}

func TestVerdictString(t *testing.T) {
	for o, want := range map[Verdict]string{VerdictSuccess: "success", VerdictFailure: "failure",
		VerdictCancelled: "cancelled", Verdict(9): "unknown"} {
		if got := o.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", o, got, want)
		}
	}
}

func TestOvertakenRaisesErrorRateButIsNoFailure(t *testing.T) {
	clk := newFakeClock()
	hung, ok := testReplica("hung", clk), testReplica("ok", clk)
	feed(hung, 20, 8*time.Millisecond, VerdictOvertaken)
	feed(ok, 20, 8*time.Millisecond, VerdictCancelled)
	if hung.ErrorRate() < 0.9 {
		t.Errorf("error rate %.2f after 20 overtaken attempts, want near 1", hung.ErrorRate())
	}
	if ok.ErrorRate() != 0 {
		t.Errorf("plain losers moved the error rate to %.2f", ok.ErrorRate())
	}
	if s := hung.Stats(); s.Failures != 0 || s.Requests != 20 {
		t.Errorf("stats %+v: overtaken attempts are requests, not failures", s)
	}
	p := NewP2C(1)
	hungPicks := 0
	for range 1000 {
		if p.Pick([]*Replica{hung, ok}) == hung {
			hungPicks++
		}
	}
	if hungPicks > 0 {
		t.Errorf("picked the overtaken replica %d of 1000 times over an equal one", hungPicks)
	}
}
