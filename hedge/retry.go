package hedge

import (
	"fmt"
	"strconv"
	"time"

	"github.com/hedgegate/hedgegate/config"
)

// retrier is the retry half of the hedge and parallel schedulers, one per request:
// an attempt that failed as retry.on names (or is still running past its attempt
// timeout, when retry.on names timeout) is replaced, after capped exponential backoff
// with full jitter, by a retry to a replica the request has not tried, spending the
// budget. Quorum has none: see quorum.go.
type retrier struct {
	policy  *retryPolicy
	backoff *backoff
	retries int           // retries sent so far
	pending bool          // the scheduler's timer is armed for a retry
	waited  time.Duration // the backoff it was armed with
}

// wants says whether an attempt that ended with f should be replaced now: retry.on
// names f, no retry is pending already, and one more attempt may be sent.
func (rt *retrier) wants(l launcher, f failureKind) bool {
	return !rt.pending && rt.policy.retryableFailure(f) && l.canLaunch()
}

// schedule arms the scheduler's timer for the next retry's backoff. It replaces
// whatever the timer was set for (a pending hedge: both would spend the same budget).
func (rt *retrier) schedule(l launcher) {
	rt.pending = true
	rt.waited = rt.backoff.wait(rt.retries + 1)
	l.arm(rt.waited)
}

// fire sends the retry the timer was armed for, budget permitting, and says whether
// one went out. A denied retry fails fast: with nothing in flight, waiting for budget
// would only hold the client; with attempts in flight, one of them may still answer.
func (rt *retrier) fire(l launcher) bool {
	rt.pending = false
	if !l.spend(KindRetry) || !l.launch(KindRetry, nil, rt.waited) {
		return false
	}
	rt.retries++
	return true
}

// retryPolicy is retry.on, compiled once per route.
type retryPolicy struct {
	connect, reset, timeout, any5xx bool
	statuses                        map[int]bool
}

func newRetryPolicy(on []string) (retryPolicy, error) {
	p := retryPolicy{statuses: map[int]bool{}}
	for _, item := range on {
		switch item {
		case config.RetryConnectFailure:
			p.connect = true
		case config.RetryReset:
			p.reset = true
		case config.RetryTimeout:
			p.timeout = true
		case config.Retry5xx:
			p.any5xx = true
		default:
			code, err := strconv.Atoi(item)
			if err != nil || code < 400 || code > 599 {
				return p, fmt.Errorf("retry.on: unknown condition %q", item)
			}
			p.statuses[code] = true
		}
	}
	return p, nil
}

// retryableStatus says whether an HTTP answer counts as a failed attempt. Anything
// else, 4xx included, is a final answer: the replica said something definite.
func (p retryPolicy) retryableStatus(code int) bool {
	return (p.any5xx && code >= 500) || p.statuses[code]
}

func (p retryPolicy) retryableFailure(f failureKind) bool {
	switch f {
	case failConnect:
		return p.connect
	case failReset:
		return p.reset
	case failTimeout:
		return p.timeout
	case failStatus:
		return true // only statuses listed in retry.on are classed as failures
	case failBodyTooLarge:
		return false // another replica will send the same large body
	case failStale:
		return true // a floor's next attempt, whatever retry.on lists: another replica may have caught up
	}
	return false
}
