package latency

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is an injected clock that tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// within reports whether got is within the histogram's 0.1% precision of want.
func within(got, want time.Duration) bool {
	diff := got - want
	if diff < 0 {
		diff = -diff
	}
	return diff <= want/128+time.Microsecond // two significant digits
}

func TestQuantiles(t *testing.T) {
	clk := newFakeClock()
	w := NewWindow(10*time.Second, 6, clk.Now)
	if got := w.Quantile(99); got != 0 {
		t.Fatalf("empty Quantile = %v, want 0", got)
	}
	for i := 1; i <= 1000; i++ {
		w.Record(time.Duration(i) * time.Millisecond)
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{
		{50, 500 * time.Millisecond},
		{90, 900 * time.Millisecond},
		{99, 990 * time.Millisecond},
		{99.9, 999 * time.Millisecond},
		{100, 1000 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := w.Quantile(tt.p); !within(got, tt.want) {
			t.Errorf("Quantile(%v) = %v, want ≈%v", tt.p, got, tt.want)
		}
	}
	if got := w.Count(); got != 1000 {
		t.Errorf("Count = %d, want 1000", got)
	}
	s := w.Snapshot()
	if s.Count() != 1000 || !within(s.Quantile(50), 500*time.Millisecond) {
		t.Errorf("Snapshot: count %d p50 %v", s.Count(), s.Quantile(50))
	}
	if !within(s.Max(), time.Second) {
		t.Errorf("Max = %v, want ≈1s", s.Max())
	}
	if !within(s.Mean(), 500500*time.Microsecond) {
		t.Errorf("Mean = %v, want ≈500.5ms", s.Mean())
	}
}

// QuantileOf is Quantile, refused below its sample count.
func TestQuantileOf(t *testing.T) {
	w := NewWindow(10*time.Second, 6, newFakeClock().Now)
	for i := 1; i <= 100; i++ {
		w.Record(time.Duration(i) * time.Millisecond)
	}
	if d, ok := w.QuantileOf(50, 101); ok || d != 0 {
		t.Errorf("QuantileOf(50, 101) over 100 samples = %v, %v; want 0, false", d, ok)
	}
	for _, least := range []int64{0, 100} {
		if d, ok := w.QuantileOf(90, least); !ok || d != w.Quantile(90) {
			t.Errorf("QuantileOf(90, %d) = %v, %v; want %v, true", least, d, ok, w.Quantile(90))
		}
	}
}

func TestClamp(t *testing.T) {
	w := NewWindow(time.Second, 2, newFakeClock().Now)
	w.Record(-time.Second)
	w.Record(0)
	w.Record(2 * time.Hour)
	s := w.Snapshot()
	if s.Count() != 3 {
		t.Fatalf("Count = %d, want 3", s.Count())
	}
	if got := s.Quantile(1); got != time.Microsecond {
		t.Errorf("min = %v, want 1µs", got)
	}
	if got := s.Max(); !within(got, time.Hour) {
		t.Errorf("max = %v, want ≈1h", got)
	}
}

func TestBars(t *testing.T) {
	w := NewWindow(time.Second, 2, newFakeClock().Now)
	if bars := w.Snapshot().Bars(); bars != nil {
		t.Fatalf("empty Bars = %v", bars)
	}
	for range 3 {
		w.Record(2 * time.Millisecond)
	}
	w.Record(500 * time.Microsecond)
	bars := w.Snapshot().Bars()
	if len(bars) != 2 {
		t.Fatalf("Bars = %v, want 2 bars", bars)
	}
	if !within(bars[0].Value, 500*time.Microsecond) || bars[0].Count != 1 ||
		!within(bars[1].Value, 2*time.Millisecond) || bars[1].Count != 3 {
		t.Errorf("Bars = %v", bars)
	}
}

func TestExpiry(t *testing.T) {
	const window, buckets = time.Second, 3
	clk := newFakeClock()
	w := NewWindow(window, buckets, clk.Now)
	w.Record(100 * time.Millisecond) // old, slow
	clk.Advance(window)
	w.Record(time.Millisecond) // newer, fast
	if got := w.Count(); got != 2 {
		t.Fatalf("Count = %d, want 2", got)
	}
	// The first bucket's sample expires once buckets×window passed since its window began.
	clk.Advance((buckets - 1) * window)
	if got, want := w.Count(), int64(1); got != want {
		t.Fatalf("after %v: Count = %d, want %d", buckets*window, got, want)
	}
	if got := w.Quantile(100); !within(got, time.Millisecond) {
		t.Errorf("Quantile(100) = %v, want ≈1ms", got)
	}
	// A jump of more than a full ring empties every bucket, with or without Record.
	clk.Advance(10 * buckets * window)
	if got := w.Count(); got != 0 {
		t.Errorf("after long idle: Count = %d, want 0", got)
	}
	if got := w.Quantile(50); got != 0 {
		t.Errorf("after long idle: Quantile = %v, want 0", got)
	}
	w.Record(7 * time.Millisecond)
	if got := w.Quantile(50); !within(got, 7*time.Millisecond) {
		t.Errorf("after refill: Quantile = %v, want ≈7ms", got)
	}
}

func TestCacheRefresh(t *testing.T) {
	clk := newFakeClock()
	w := NewWindow(10*time.Second, 6, clk.Now) // refresh = 1s
	w.Record(time.Millisecond)
	if got := w.Count(); got != 1 {
		t.Fatalf("first samples are visible at once: Count = %d, want 1", got)
	}
	if got := w.Quantile(100); !within(got, time.Millisecond) {
		t.Fatalf("Quantile(100) = %v, want ≈1ms", got)
	}
	w.Record(time.Millisecond)
	w.Record(50 * time.Millisecond)
	if got := w.Count(); got != 1 {
		t.Fatalf("within the refresh interval the cache is reused: Count = %d, want 1", got)
	}
	if got := w.Quantile(100); !within(got, time.Millisecond) {
		t.Fatalf("cached Quantile(100) = %v, want ≈1ms", got)
	}
	if got := w.Snapshot().Count(); got != 3 {
		t.Fatalf("Snapshot is always fresh: Count = %d, want 3", got)
	}
	clk.Advance(time.Second)
	if got := w.Count(); got != 3 {
		t.Fatalf("after the refresh interval: Count = %d, want 3", got)
	}
	if got := w.Quantile(100); !within(got, 50*time.Millisecond) {
		t.Fatalf("refreshed Quantile(100) = %v, want ≈50ms", got)
	}
}

func TestBackwardClock(t *testing.T) {
	clk := newFakeClock()
	w := NewWindow(time.Second, 2, clk.Now)
	w.Record(time.Millisecond)
	clk.Advance(-5 * time.Second)
	w.Record(time.Millisecond)
	if got := w.Snapshot().Count(); got != 2 {
		t.Errorf("Count = %d, want 2", got)
	}
}

func TestConcurrent(t *testing.T) {
	clk := newFakeClock()
	w := NewWindow(100*time.Millisecond, 4, clk.Now)
	const goroutines, each = 8, 2000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				w.Record(time.Duration(i%100+1) * time.Millisecond)
				switch i % 50 {
				case 0:
					_ = w.Quantile(99)
				case 1:
					_ = w.Count()
				case 2:
					if g == 0 {
						clk.Advance(time.Millisecond) // rotate now and then
					}
				case 3:
					_ = w.Snapshot().Quantile(50)
				}
			}
		})
	}
	wg.Wait()
	clk.Advance(time.Second) // past the refresh interval, inside no rotation guarantee
	if got := w.Snapshot().Count(); got < 0 || got > goroutines*each {
		t.Fatalf("Count = %d", got)
	}
}

func TestConcurrentNoRotation(t *testing.T) {
	clk := newFakeClock()
	w := NewWindow(time.Minute, 2, clk.Now)
	const goroutines, each = 8, 1000
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				w.Record(3 * time.Millisecond)
				_ = w.Quantile(50)
			}
		})
	}
	wg.Wait()
	if got := w.Snapshot().Count(); got != goroutines*each {
		t.Fatalf("Count = %d, want %d", got, goroutines*each)
	}
}

func TestRecordAllocs(t *testing.T) {
	clk := newFakeClock()
	w := NewWindow(time.Second, 3, clk.Now)
	allocs := testing.AllocsPerRun(1000, func() {
		w.Record(5 * time.Millisecond)
		clk.Advance(10 * time.Millisecond) // rotates every 100 records
	})
	if allocs != 0 {
		t.Errorf("Record allocates %v per op, want 0", allocs)
	}
	w.Record(time.Millisecond)
	_ = w.Quantile(99)
	allocs = testing.AllocsPerRun(1000, func() { _ = w.Quantile(99) })
	if allocs != 0 {
		t.Errorf("cached Quantile allocates %v per op, want 0", allocs)
	}
}

func BenchmarkRecord(b *testing.B) {
	w := NewWindow(10*time.Second, 6, nil)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		d := time.Millisecond
		for pb.Next() {
			w.Record(d)
			d += time.Microsecond
			if d > 100*time.Millisecond {
				d = time.Millisecond
			}
		}
	})
}

func BenchmarkQuantileCached(b *testing.B) {
	w := NewWindow(10*time.Second, 6, nil)
	for i := range 100000 {
		w.Record(time.Duration(1000+i%99000) * time.Microsecond) // 1ms..100ms
	}
	_ = w.Quantile(99.9)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = w.Quantile(99.9)
		}
	})
}

func TestRecentReadsCompleteWindowsOnly(t *testing.T) {
	clock := time.Unix(1000, 0)
	w := NewWindow(time.Second, 4, func() time.Time { return clock })
	record := func(d time.Duration, n int) {
		for range n {
			w.Record(d)
		}
	}
	record(time.Millisecond, 10) // window e
	if got := w.Recent(2).Count(); got != 0 {
		t.Errorf("Recent(2) in the first window: %d samples, want 0 (it is not complete)", got)
	}
	clock = clock.Add(time.Second)
	record(2*time.Millisecond, 20) // e+1
	clock = clock.Add(time.Second)
	record(3*time.Millisecond, 30) // e+2, being recorded
	if got := w.Recent(1).Count(); got != 20 {
		t.Errorf("Recent(1): %d samples, want the 20 of the last complete window", got)
	}
	r := w.Recent(2)
	if r.Count() != 30 || r.Max() != Reported(2*time.Millisecond) {
		t.Errorf("Recent(2): %d samples, max %v; want 30, 2ms (windows e and e+1)", r.Count(), r.Max())
	}
	if got := w.Recent(10).Count(); got != 30 {
		t.Errorf("Recent(10): %d samples, want 30: at most buckets−1 complete windows", got)
	}
	if p := w.Past(2); p.Count() != 10 || p.Max() != Reported(time.Millisecond) {
		t.Errorf("Past(2): %d samples, max %v; want window e alone: 10 at 1ms", p.Count(), p.Max())
	}
	if p := w.Past(1); p.Count() != 20 || p.Max() != Reported(2*time.Millisecond) {
		t.Errorf("Past(1): %d samples, max %v; want window e+1 alone: 20 at 2ms", p.Count(), p.Max())
	}
	for _, k := range []int{0, 4} {
		if got := w.Past(k).Count(); got != 0 {
			t.Errorf("Past(%d): %d samples, want 0: no such complete window", k, got)
		}
	}
	e := w.Epoch()
	clock = clock.Add(2 * time.Second) // e+3 passes with no sample
	if got := w.Recent(1).Count(); got != 0 {
		t.Errorf("Recent(1) after an idle window: %d samples, want 0", got)
	}
	if got := w.Epoch(); got != e+2 {
		t.Errorf("epoch %d, want %d", got, e+2)
	}
	one := NewWindow(time.Second, 1, func() time.Time { return clock })
	one.Record(time.Millisecond)
	clock = clock.Add(time.Second)
	if got := one.Recent(1).Count(); got != 0 {
		t.Errorf("one bucket: Recent(1) = %d samples, want 0", got)
	}
}

// Reported is what tests elsewhere compare delays with: it must stay within the
// histogram's two digits of the sample and never below it.
func TestReportedIsTheSampleToTwoDigits(t *testing.T) {
	for _, d := range []time.Duration{time.Microsecond, 255 * time.Microsecond, time.Millisecond,
		2 * time.Millisecond, 50 * time.Millisecond, time.Second, time.Hour} {
		got := Reported(d)
		if got < d || got-d > d/128 {
			t.Errorf("Reported(%v) = %v, want within 1/128 above it", d, got)
		}
		w := NewWindow(time.Second, 2, newFakeClock().Now)
		w.Record(d)
		if q := w.Snapshot().Quantile(50); q != got {
			t.Errorf("a window of one %v sample reports %v, Reported says %v", d, q, got)
		}
	}
}

// A replica keeps buckets+2 histograms; at three digits that was 1.5 MB a replica.
func TestHistogramsStaySmall(t *testing.T) {
	if n := newHistogram().ByteSize(); n > 32<<10 {
		t.Errorf("one histogram is %d bytes, want ≤ 32 KiB", n)
	}
}
