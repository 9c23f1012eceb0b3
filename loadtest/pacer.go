package loadtest

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Schedule produces the intended send offsets of an open-loop run, measured from
// the run's start. The offsets are a pure function of rate, arrival process and
// seed, so a run's schedule is reproducible and testable without a clock.
//
// A Schedule is not safe for concurrent use; the generator guards it.
type Schedule struct {
	rate    float64
	poisson *rand.Rand // nil: constant rate
	i       int64
	t       float64 // seconds since start of the previous Poisson arrival
}

// NewSchedule returns the schedule for rate requests per second. With poisson,
// inter-arrival gaps are exponential with mean 1/rate, drawn from a generator
// seeded with seed; otherwise request i is due at exactly i/rate.
func NewSchedule(rate float64, poisson bool, seed int64) *Schedule {
	s := &Schedule{rate: rate}
	if poisson {
		s.poisson = rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	}
	return s
}

// Next returns the offset from start of the next request.
func (s *Schedule) Next() time.Duration {
	i := s.i
	s.i++
	if s.poisson == nil {
		// Computed from i, not accumulated, so float error never drifts the schedule.
		return ConstantOffset(i, s.rate)
	}
	if i > 0 {
		s.t += s.poisson.ExpFloat64() / s.rate
	}
	return time.Duration(s.t * float64(time.Second))
}

// ConstantOffset is the intended offset of request i at a constant rate: i/rate.
func ConstantOffset(i int64, rate float64) time.Duration {
	return time.Duration(float64(i) * float64(time.Second) / rate)
}

// Key distributions for the {key} placeholder.
const (
	KeyUniform = "uniform"
	KeyZipf    = "zipf"
)

// zipfS is the Zipf exponent: s=1.1 gives a hot head (the top key takes about a
// tenth of requests at 10k keys) with a long tail, like real key popularity.
const zipfS = 1.1

// keyPicker draws key indexes in [0, n). Not safe for concurrent use.
type keyPicker struct {
	n    int
	rng  *rand.Rand
	zipf *rand.Zipf
}

func newKeyPicker(n int, dist string, seed int64) *keyPicker {
	if n <= 0 {
		return nil
	}
	// A different stream from the Poisson one so changing -poisson does not
	// change which keys are requested.
	rng := rand.New(rand.NewPCG(uint64(seed), 0x2545f4914f6cdd1d))
	k := &keyPicker{n: n, rng: rng}
	if dist == KeyZipf && n > 1 {
		k.zipf = rand.NewZipf(rng, zipfS, 1, uint64(n-1))
	}
	return k
}

func (k *keyPicker) next() int {
	if k.zipf != nil {
		return int(k.zipf.Uint64())
	}
	return k.rng.IntN(k.n)
}

// slot is one scheduled request: its sequence number, intended offset and key.
type slot struct {
	seq int64
	at  time.Duration
	key int
}

// dispenser hands out slots in schedule order to whichever worker asks next.
// Drawing keys here (not per worker) keeps the key of request i deterministic
// whatever the goroutine interleaving.
type dispenser struct {
	mu    sync.Mutex
	sched *Schedule
	keys  *keyPicker
	limit time.Duration
	seq   int64
	done  bool
}

func (d *dispenser) next() (slot, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		return slot{}, false
	}
	at := d.sched.Next()
	if at >= d.limit {
		d.done = true
		return slot{}, false
	}
	s := slot{seq: d.seq, at: at, key: -1}
	d.seq++
	if d.keys != nil {
		s.key = d.keys.next()
	}
	return s, true
}

// urlTemplate splits a URL around its {key} placeholders once, so each request
// costs one string concatenation instead of a search-and-replace.
type urlTemplate struct {
	parts []string // len = placeholders+1
}

const keyPlaceholder = "{key}"

func parseURLTemplate(u string) urlTemplate {
	var parts []string
	for {
		i := strings.Index(u, keyPlaceholder)
		if i < 0 {
			break
		}
		parts = append(parts, u[:i])
		u = u[i+len(keyPlaceholder):]
	}
	return urlTemplate{parts: append(parts, u)}
}

func (t urlTemplate) hasKey() bool { return len(t.parts) > 1 }

func (t urlTemplate) expand(key int) string {
	if len(t.parts) == 1 {
		return t.parts[0]
	}
	k := strconv.Itoa(key)
	n := len(k) * (len(t.parts) - 1)
	for _, p := range t.parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range t.parts {
		if i > 0 {
			b = append(b, k...)
		}
		b = append(b, p...)
	}
	return string(b)
}
