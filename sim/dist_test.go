package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestParseDist(t *testing.T) {
	ms := time.Millisecond
	good := []struct {
		in   string
		want Dist
	}{
		{"fixed:1ms", Dist{Kind: "fixed", Value: ms}},
		{"2ms", Dist{Kind: "fixed", Value: 2 * ms}},
		{" fixed:0s ", Dist{Kind: "fixed"}},
		{"uniform:1ms-3ms", Dist{Kind: "uniform", Min: ms, Max: 3 * ms}},
		{"uniform:2ms-2ms", Dist{Kind: "uniform", Min: 2 * ms, Max: 2 * ms}},
		{"lognormal:median=2ms,sigma=0.5", Dist{Kind: "lognormal", Median: 2 * ms, Sigma: 0.5}},
		{"lognormal:sigma=1,median=500us", Dist{Kind: "lognormal", Median: 500 * time.Microsecond, Sigma: 1}},
	}
	for _, tc := range good {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDist(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			again, err := ParseDist(got.String())
			if err != nil || again != got {
				t.Fatalf("round trip %q: %+v, %v", got.String(), again, err)
			}
		})
	}
	bad := []string{
		"", "fast", "fixed:", "fixed:-1ms", "fixed:1", "gauss:1ms",
		"uniform:3ms-1ms", "uniform:1ms", "uniform:-1ms-2ms",
		"lognormal:median=2ms", "lognormal:sigma=1", "lognormal:median=2ms,sigma=-1",
		"lognormal:median=2ms,sigma=NaN", "lognormal:median=2ms,sigma=11",
		"lognormal:median=2ms,sigma=1,sigma=2", "lognormal:median=2ms,sigma=1,mu=3",
	}
	for _, in := range bad {
		t.Run("bad/"+in, func(t *testing.T) {
			if d, err := ParseDist(in); err == nil {
				t.Fatalf("accepted as %+v", d)
			}
		})
	}
}

func FuzzParseDist(f *testing.F) {
	for _, s := range []string{"fixed:1ms", "2ms", "uniform:1ms-3ms", "lognormal:median=2ms,sigma=0.5",
		"lognormal:sigma=1e-3,median=1h", "uniform:0s-2562047h47m16.854775807s", "fixed:1.5µs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDist(s)
		if err != nil {
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("accepted %q as invalid %+v: %v", s, d, err)
		}
		again, err := ParseDist(d.String())
		if err != nil || again != d {
			t.Fatalf("%q → %q → %+v, %v; want %+v", s, d.String(), again, err, d)
		}
		d.Sample(rand.New(rand.NewPCG(1, 2))) // must not panic
	})
}

func TestDistSample(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const n = 4001
	draw := func(d Dist) []time.Duration {
		s := make([]time.Duration, n)
		for i := range s {
			s[i] = d.Sample(rng)
		}
		slices.Sort(s)
		return s
	}
	t.Run("zero", func(t *testing.T) {
		if got := (Dist{}).Sample(rng); got != 0 {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("fixed", func(t *testing.T) {
		s := draw(Dist{Kind: "fixed", Value: 3 * time.Millisecond})
		if s[0] != 3*time.Millisecond || s[n-1] != 3*time.Millisecond {
			t.Fatalf("range %v..%v", s[0], s[n-1])
		}
	})
	t.Run("uniform", func(t *testing.T) {
		s := draw(Dist{Kind: "uniform", Min: time.Millisecond, Max: 3 * time.Millisecond})
		if s[0] < time.Millisecond || s[n-1] > 3*time.Millisecond {
			t.Fatalf("outside bounds: %v..%v", s[0], s[n-1])
		}
		// Quartiles of U(1ms,3ms) are 1.5ms and 2.5ms; 5% slack is many σ at n=4001.
		for _, q := range []struct {
			i    int
			want float64
		}{{n / 4, 1.5e6}, {n / 2, 2e6}, {3 * n / 4, 2.5e6}} {
			if got := float64(s[q.i]); math.Abs(got-q.want) > 0.05*q.want {
				t.Errorf("quantile at %d: %v, want ≈%v", q.i, s[q.i], time.Duration(q.want))
			}
		}
	})
	t.Run("lognormal", func(t *testing.T) {
		d := Dist{Kind: "lognormal", Median: 2 * time.Millisecond, Sigma: 0.5}
		s := draw(d)
		med := float64(s[n/2])
		if math.Abs(med-2e6) > 0.05*2e6 {
			t.Errorf("median %v, want ≈2ms", s[n/2])
		}
		// The 84th percentile of a lognormal is median·e^σ.
		p84 := float64(s[n*8413/10000])
		if want := 2e6 * math.Exp(0.5); math.Abs(p84-want) > 0.08*want {
			t.Errorf("p84 %v, want ≈%v", time.Duration(p84), time.Duration(want))
		}
	})
	t.Run("lognormal saturates", func(t *testing.T) {
		d := Dist{Kind: "lognormal", Median: time.Duration(math.MaxInt64 / 2), Sigma: 10}
		for range 100 {
			if v := d.Sample(rng); v < 0 {
				t.Fatalf("overflowed to %v", v)
			}
		}
	})
}
