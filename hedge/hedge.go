package hedge

import (
	"net/http"
	"time"

	"github.com/hedgegate/hedgegate/replicas"
)

// hedgeStrategy is strategy: hedge. One attempt now; while nothing has answered, the
// next after the latest attempt's replica's hedge delay, each hedge spending the
// budget; a failed attempt replaced by a retry (retrier). At most max_attempts, every
// one to a different replica.
type hedgeStrategy struct {
	maxAttempts int
	delays      delaySource
	retry       *retryPolicy
	backoff     *backoff
	bodyVersion bool // the route's version is in the body: every answer is read whole
}

// delaySource says how long a hedge waits on an attempt to rep before the next one:
// percentileDelay for a fixed hedge.percentile, autoDelay (autodelay.go) for auto.
type delaySource interface {
	delay(rep *replicas.Replica) time.Duration
}

func (s *hedgeStrategy) mode() attemptMode {
	return attemptMode{maxAttempts: s.maxAttempts, read: firstAnswerRead(s.bodyVersion), askArrival: true}
}

func (s *hedgeStrategy) begin(req *http.Request, _ []byte) (*http.Request, scheduler, collector) {
	h := &hedgeRequest{strategy: s, retrier: retrier{policy: s.retry, backoff: s.backoff}}
	req, h.head = asGet(req, s.bodyVersion)
	return req, h, h
}

// hedgeRequest is one request's hedge scheduler (with its retrier) and its collector.
type hedgeRequest struct {
	strategy *hedgeStrategy
	retrier
	firstAnswer
	hedging    bool          // the timer is armed for a hedge
	hedgeDelay time.Duration // what it was armed with
	looks      int           // hedges denied so far: each next look waits twice as long
	holds      int           // hedges held so far for an answer already waiting
}

// maxHolds bounds the hedges one request holds back for an answer that is waiting
// unread: each hold waits one more hedge delay, and an answer whose headers keep
// arriving but never end (a replica trickling them) must not hold its hedge forever.
const maxHolds = 3

func (h *hedgeRequest) start(l launcher) {
	if l.launch(KindPrimary, nil, 0) {
		h.armHedge(l)
	}
}

// armHedge sets the timer for the next hedge, after the latest attempt's delay.
func (h *hedgeRequest) armHedge(l launcher) {
	if l.canLaunch() {
		h.hedgeAfter(l, h.strategy.delays.delay(l.last()))
	}
}

func (h *hedgeRequest) hedgeAfter(l launcher, d time.Duration) {
	h.hedging, h.hedgeDelay = true, d
	l.arm(d)
}

func (h *hedgeRequest) ended(l launcher, a *attempt) { h.replace(l, a.failure) }

func (h *hedgeRequest) slow(l launcher, _ *attempt) { h.replace(l, failTimeout) }

// replace schedules a retry in place of a pending hedge (both would spend the same
// budget). A hedge backs up an attempt in flight: with none left and no retry
// coming, there is nothing more to send.
func (h *hedgeRequest) replace(l launcher, f failureKind) {
	switch {
	case h.wants(l, f):
		h.hedging = false
		h.schedule(l)
	case h.hedging && l.inflight() == 0:
		h.hedging = false
		l.disarm()
	}
}

func (h *hedgeRequest) wake(l launcher) {
	if h.hedging {
		h.hedging = false
		h.hedge(l)
	} else if h.fire(l) {
		h.armHedge(l)
	}
}

func (h *hedgeRequest) hedge(l launcher) {
	if !l.canLaunch() {
		return
	}
	if h.holds < maxHolds && l.answerWaiting() {
		// The replica has answered and the gateway is behind on reading it (a
		// saturated core): a hedge cannot beat an answer already here, it would only
		// add load where CPU is short and cost the loser its HTTP/1.1 connection.
		// Look again after one more delay, in case that answer then stalls.
		h.holds++
		l.held()
		h.hedgeAfter(l, max(h.strategy.delays.delay(l.last()), time.Millisecond))
		return
	}
	if !l.spend(KindHedge) {
		// The attempts are still in flight and the budget refills with every request,
		// so a primary that may never answer is not given up on: look again, each time
		// waiting twice as long. Only requests that are really stuck keep asking (a
		// few looks before the deadline); polling every delay would have hedges take
		// each token as it arrives and starve the retries of requests that failed
		// outright. At least 1ms: a zero delay (min_delay 0) would otherwise spin.
		h.looks++
		h.hedgeAfter(l, max(h.strategy.delays.delay(l.last()), time.Millisecond)<<min(h.looks, 16))
		return
	}
	l.launch(KindHedge, nil, h.hedgeDelay)
	h.armHedge(l)
}

// percentileDelay is a hedge route's delay for each replica: the replica's latency
// percentile, clamped to [min_delay, max_delay], or initial_delay while the replica has
// fewer than min_samples samples.
type percentileDelay struct {
	percentile                float64
	initial, minimum, maximum time.Duration
	minSamples                int64
}

func (d *percentileDelay) delay(rep *replicas.Replica) time.Duration {
	q, ok := rep.Latency().QuantileOf(d.percentile, d.minSamples)
	if !ok {
		return d.initial
	}
	return min(max(q, d.minimum), d.maximum)
}
