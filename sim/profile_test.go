package sim

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	cases := []struct {
		name        string
		p           Profile
		errs, tails float64
		minD, maxD  time.Duration
	}{
		{"calm", Profile{Latency: Dist{Kind: "fixed", Value: time.Millisecond}}, 0, 0, time.Millisecond, time.Millisecond},
		{"errors 0.3", Profile{ErrorRate: 0.3}, 0.3, 0, 0, 0},
		{"tail 0.1", Profile{TailProb: 0.1, TailExtra: time.Second}, 0, 0.1, 0, time.Second},
		{"everything", Profile{ErrorRate: 1, TailProb: 1, TailExtra: time.Second}, 1, 1, time.Second, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(42, 1))
			const n = 2000
			var errs, tails int
			for range n {
				d := tc.p.decide(rng)
				if d.fail {
					errs++
				}
				if d.delay >= time.Second {
					tails++
				}
				if d.delay < tc.minD || d.delay > tc.maxD {
					t.Fatalf("delay %v outside %v..%v", d.delay, tc.minD, tc.maxD)
				}
			}
			// 0.03 is over 4σ of a binomial proportion at n=2000.
			if got := float64(errs) / n; math.Abs(got-tc.errs) > 0.03 {
				t.Errorf("error rate %.3f, want ≈%.2f", got, tc.errs)
			}
			if got := float64(tails) / n; math.Abs(got-tc.tails) > 0.03 {
				t.Errorf("tail rate %.3f, want ≈%.2f", got, tc.tails)
			}
		})
	}
}

func TestParseTail(t *testing.T) {
	for _, tc := range []struct {
		in    string
		prob  float64
		extra time.Duration
		ok    bool
	}{
		{"0.02:50ms", 0.02, 50 * time.Millisecond, true},
		{"", 0, 0, true},
		{"0", 0, 0, true},
		{"1:1s", 1, time.Second, true},
		{"1.5:1s", 0, 0, false},
		{"0.1", 0, 0, false},
		{"0.1:-1ms", 0, 0, false},
		{"x:1ms", 0, 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			p, e, err := ParseTail(tc.in)
			if (err == nil) != tc.ok || p != tc.prob || e != tc.extra {
				t.Fatalf("got %v %v %v", p, e, err)
			}
		})
	}
}

func TestProfileWithOverrides(t *testing.T) {
	base := Profile{Latency: Dist{Kind: "fixed", Value: time.Millisecond}}
	got, err := base.WithOverrides("latency=lognormal:median=2ms,sigma=0.5,tail=0.1:100ms,error=0.3,stale=0.4,mode=hang")
	if err != nil {
		t.Fatal(err)
	}
	want := Profile{
		Latency:  Dist{Kind: "lognormal", Median: 2 * time.Millisecond, Sigma: 0.5},
		TailProb: 0.1, TailExtra: 100 * time.Millisecond, ErrorRate: 0.3, StaleFraction: 0.4, Mode: ModeHang,
	}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if got, err := base.WithOverrides("mode=normal"); err != nil || got != base {
		t.Fatalf("mode=normal: %+v %v", got, err)
	}
	for _, bad := range []string{"speed=1", "error=2", "mode=sleep", "latency=fast", "tail", "stale=-0.1"} {
		if _, err := base.WithOverrides(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestProfileJSON(t *testing.T) {
	p := Profile{
		Latency:  Dist{Kind: "uniform", Min: time.Millisecond, Max: 2 * time.Millisecond},
		TailProb: 0.5, TailExtra: 40 * time.Millisecond, ErrorRate: 0.1, StaleFraction: 0.2, Mode: ModeRefuse,
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"latency":"uniform:1ms-2ms","tail_prob":0.5,"tail_extra":"40ms","error_rate":0.1,"stale_fraction":0.2,"mode":"refuse"}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
	var back Profile
	if err := json.Unmarshal(b, &back); err != nil || back != p {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	for _, bad := range []string{`{"latancy":"1ms"}`, `{"error_rate":2}`, `{"mode":"sleep"}`, `{"tail_extra":"soon"}`, `{} {}`} {
		q := p
		if err := q.applyPatch([]byte(bad)); err == nil || q != p {
			t.Errorf("patch %s: err %v, profile %+v", bad, err, q)
		}
	}
}
