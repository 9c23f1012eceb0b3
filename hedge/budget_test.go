package hedge

import (
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestBudgetBoundsExtraAttempts(t *testing.T) {
	for _, tc := range []struct {
		name         string
		ratio, floor float64
		requests     int
		wantExtras   int
	}{
		{"ratio only", 0.1, 0, 1000, 100},
		{"floor only", 0, 2, 0, 20}, // 2/s over the 10s window
		{"both", 0.2, 1, 100, 30},
		{"none", 0, 0, 1000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeClock{t: time.Unix(1000, 0)}
			b := newBudget(config.Budget{Ratio: tc.ratio, MinPerSecond: tc.floor}, c.now)
			for range tc.requests {
				b.request()
			}
			got := 0
			for range 10 * (tc.wantExtras + 10) {
				if b.tryExtra(true) {
					got++
				}
			}
			if got != tc.wantExtras {
				t.Errorf("granted %d extra attempts, want %d", got, tc.wantExtras)
			}
		})
	}
}

func TestBudgetWindowSlides(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	b := newBudget(config.Budget{Ratio: 0.5}, c.now)
	for range 10 {
		b.request()
	}
	for range 5 {
		if !b.tryExtra(true) {
			t.Fatal("denied within ratio")
		}
	}
	if b.tryExtra(true) {
		t.Fatal("granted past ratio × requests")
	}
	// After the window passes, both the old requests and the old extras expire:
	// calm periods bank nothing for later.
	c.advance(budgetWindow + time.Second)
	if b.tryExtra(true) {
		t.Error("granted with no requests in the window")
	}
	b.request()
	b.request()
	if !b.tryExtra(true) || b.tryExtra(true) {
		t.Error("want exactly one extra for two new requests at ratio 0.5")
	}
}

func TestBackoffIsCappedFullJitter(t *testing.T) {
	var ceilings []int64
	b := backoff{base: 2 * time.Millisecond, max: 10 * time.Millisecond,
		randN: func(n int64) int64 { ceilings = append(ceilings, n-1); return n - 1 }}
	for retry := 1; retry <= 5; retry++ {
		b.wait(retry)
	}
	want := []time.Duration{2, 4, 8, 10, 10}
	for i, w := range want {
		if time.Duration(ceilings[i]) != w*time.Millisecond {
			t.Errorf("retry %d: ceiling %v, want %v", i+1, time.Duration(ceilings[i]), w*time.Millisecond)
		}
	}
	b.randN = func(int64) int64 { return 0 }
	if d := b.wait(3); d != 0 {
		t.Errorf("full jitter starts at zero, got %v", d)
	}
}

// Hedges, sent beside attempts still in flight, may not take the window below its
// retry reserve; a request with nothing left in flight (its attempt failed outright)
// may spend that reserve too. Together they never pass the window's allowance.
func TestBudgetKeepsAReserveForRequestsThatFailedOutright(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	b := newBudget(config.Budget{Ratio: 0.1, MinPerSecond: 1}, c.now)
	for range 900 {
		b.request()
	}
	// Allowance: 0.1 × 900 + 1/s × 10s = 100; the reserve is its tenth.
	hedges := 0
	for range 200 {
		if b.tryExtra(false) {
			hedges++
		}
	}
	retries := 0
	for range 200 {
		if b.tryExtra(true) {
			retries++
		}
	}
	if hedges != 90 || retries != 10 {
		t.Errorf("granted %d hedges, then %d last-chance retries; want 90 and the reserve of 10", hedges, retries)
	}
	// The reserve is not a second budget: once last-chance retries took the window's
	// allowance, hedges are denied too.
	c.advance(budgetWindow + time.Second)
	for range 900 {
		b.request()
	}
	retries = 0
	for range 200 {
		if b.tryExtra(true) {
			retries++
		}
	}
	if retries != 100 || b.tryExtra(false) {
		t.Errorf("granted %d last-chance retries, want the whole allowance of 100 and nothing after", retries)
	}
}
