package hedge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"

	"github.com/hedgegate/hedgegate/config"
)

// Failure is the kind of a failed attempt. It is what retry.on names, and it labels
// attempt detail in error bodies; it never carries unbounded text into metrics.
type Failure string

const (
	FailureNone         Failure = ""
	FailureConnect      Failure = config.RetryConnectFailure
	FailureReset        Failure = config.RetryReset
	FailureTimeout      Failure = config.RetryTimeout
	FailureStatus       Failure = "status"    // an HTTP answer the route treats as failed
	FailureCancelled    Failure = "cancelled" // a loser, cancelled once the result was decided
	FailureBodyTooLarge Failure = "body_too_large"
	FailureOther        Failure = "other"
)

// Sentinel causes used to tell why an attempt's context ended.
var (
	errAttemptTimeout = errors.New("attempt timeout")
	errLost           = errors.New("result already decided")
)

// classify names the failure behind a transport error. attemptCtx is the attempt's own
// context, whose cause says whether the engine cancelled it.
func classify(attemptCtx context.Context, err error) Failure {
	switch cause := context.Cause(attemptCtx); {
	case errors.Is(cause, errAttemptTimeout):
		return FailureTimeout
	case errors.Is(cause, errLost):
		return FailureCancelled
	case cause != nil:
		// The request's own context ended (deadline or client gone).
		if errors.Is(cause, context.DeadlineExceeded) {
			return FailureTimeout
		}
		return FailureCancelled
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return FailureConnect
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return FailureConnect
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE) {
		return FailureReset
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return FailureTimeout
	}
	return FailureOther
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

func (p retryPolicy) retryableFailure(f Failure) bool {
	switch f {
	case FailureConnect:
		return p.connect
	case FailureReset:
		return p.reset
	case FailureTimeout:
		return p.timeout
	case FailureStatus:
		return true // only statuses listed in retry.on are classed as failures
	case FailureBodyTooLarge:
		return false // another replica will send the same large body
	}
	return false
}

// Outcome is why a request got no usable answer.
type Outcome int

const (
	// OutcomeAllFailed: every attempt failed and none answered with HTTP.
	OutcomeAllFailed Outcome = iota
	// OutcomeDeadline: the request's deadline passed first.
	OutcomeDeadline
	// OutcomeCancelled: the client went away.
	OutcomeCancelled
	// OutcomeNoReplica: nothing could be sent at all.
	OutcomeNoReplica
	// OutcomeNoQuorum: replicas answered but did not agree.
	OutcomeNoQuorum
	// OutcomeStale: the only possible agreement was older than a version already served.
	OutcomeStale
)

// Error is a request that ended without an answer to pass on: Outcome is its kind
// (the server package maps kinds to status codes), Attempts the per-replica detail
// for the error body.
type Error struct {
	Outcome  Outcome
	Message  string
	Attempts []AttemptReport
}

func (e *Error) Error() string { return e.Message }

// AttemptReport is one attempt as the client's error body and debug logs show it.
type AttemptReport struct {
	Replica    string  `json:"replica"`
	Kind       string  `json:"kind"`
	Status     int     `json:"status,omitempty"`
	Error      string  `json:"error,omitempty"`
	Version    string  `json:"version,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}
