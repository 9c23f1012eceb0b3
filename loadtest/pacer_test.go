package loadtest

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestConstantScheduleIsExact(t *testing.T) {
	for _, tc := range []struct {
		name string
		rate float64
	}{
		{"400/s", 400},
		{"3/s", 3},
		{"5000/s", 5000},
		{"0.5/s", 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSchedule(tc.rate, false, 1)
			for i := range int64(100_000) {
				got := s.Next()
				want := float64(i) * 1e9 / tc.rate // start + i/rate, in ns
				if math.Abs(float64(got)-want) >= 1 {
					t.Fatalf("offset %d = %v, want %vns", i, got, want)
				}
			}
		})
	}
}

func TestConstantScheduleCount(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		dur  time.Duration
		want int64
	}{
		{400, time.Second, 400},
		{3, time.Second, 3}, // 0, 1/3, 2/3
		{1000, 2500 * time.Millisecond, 2500},
		{7, 1001 * time.Millisecond, 8},
	} {
		d := &dispenser{sched: NewSchedule(tc.rate, false, 1), limit: tc.dur}
		var n int64
		for {
			s, ok := d.next()
			if !ok {
				break
			}
			if s.seq != n {
				t.Fatalf("seq %d, want %d", s.seq, n)
			}
			n++
		}
		if n != tc.want {
			t.Errorf("rate %v for %v: %d slots, want %d", tc.rate, tc.dur, n, tc.want)
		}
	}
}

func TestPoissonSchedule(t *testing.T) {
	const rate, n = 1000.0, 100_000
	offsets := func(seed int64) []time.Duration {
		s := NewSchedule(rate, true, seed)
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = s.Next()
		}
		return out
	}
	a := offsets(7)
	if a[0] != 0 {
		t.Errorf("first arrival at %v, want 0", a[0])
	}
	if !slices.IsSorted(a) {
		t.Fatal("arrivals not in order")
	}
	// n-1 gaps of mean 1/rate: relative standard deviation 1/sqrt(n) ≈ 0.3%.
	mean := a[n-1].Seconds() / (n - 1)
	if got := 1 / mean; math.Abs(got-rate)/rate > 0.015 {
		t.Errorf("mean rate %.1f, want %.0f ± 1.5%%", got, rate)
	}
	// Exponential gaps: standard deviation equals the mean.
	var sum2 float64
	for i := 1; i < n; i++ {
		g := (a[i] - a[i-1]).Seconds() - mean
		sum2 += g * g
	}
	if sd := math.Sqrt(sum2 / (n - 2)); math.Abs(sd-mean)/mean > 0.03 {
		t.Errorf("gap sd %.6f, want ≈ mean %.6f", sd, mean)
	}
	if !slices.Equal(a, offsets(7)) {
		t.Error("same seed, different schedule")
	}
	if slices.Equal(a, offsets(8)) {
		t.Error("different seeds, same schedule")
	}
}

func TestKeyDistributions(t *testing.T) {
	const draws = 200_000
	count := func(n int, dist string, seed int64) []int {
		k := newKeyPicker(n, dist, seed)
		c := make([]int, n)
		for range draws {
			c[k.next()]++
		}
		return c
	}

	t.Run("uniform", func(t *testing.T) {
		c := count(10, KeyUniform, 1)
		for key, got := range c {
			if f := float64(got) / draws; math.Abs(f-0.1) > 0.005 {
				t.Errorf("key %d: share %.4f, want 0.1", key, f)
			}
		}
	})

	t.Run("zipf", func(t *testing.T) {
		const n = 1000
		c := count(n, KeyZipf, 1)
		// P(k) ∝ (k+1)^-1.1.
		var h float64
		for k := range n {
			h += math.Pow(float64(k+1), -zipfS)
		}
		for _, key := range []int{0, 1, 9, 99} {
			want := math.Pow(float64(key+1), -zipfS) / h
			if got := float64(c[key]) / draws; math.Abs(got-want) > 0.1*want+0.001 {
				t.Errorf("key %d: share %.4f, want %.4f", key, got, want)
			}
		}
		if c[0] <= c[1] || c[1] <= c[10] || c[10] <= c[500] {
			t.Errorf("not decreasing: %d %d %d %d", c[0], c[1], c[10], c[500])
		}
	})

	t.Run("seeded", func(t *testing.T) {
		for _, dist := range []string{KeyUniform, KeyZipf} {
			a, b := newKeyPicker(100, dist, 3), newKeyPicker(100, dist, 3)
			for i := range 1000 {
				if x, y := a.next(), b.next(); x != y {
					t.Fatalf("%s draw %d: %d vs %d", dist, i, x, y)
				}
			}
		}
	})
}

func TestURLTemplate(t *testing.T) {
	for _, tc := range []struct {
		url  string
		key  int
		want string
	}{
		{"http://h/kv/{key}", 42, "http://h/kv/42"},
		{"http://h/kv/{key}?x={key}", 7, "http://h/kv/7?x=7"},
		{"http://h/static", 7, "http://h/static"},
		{"http://h/{key}", 0, "http://h/0"},
	} {
		if got := parseURLTemplate(tc.url).expand(tc.key); got != tc.want {
			t.Errorf("expand(%q, %d) = %q, want %q", tc.url, tc.key, got, tc.want)
		}
	}
}
