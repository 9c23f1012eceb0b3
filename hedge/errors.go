package hedge

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/hedgegate/hedgegate/config"
)

// failureKind is why an attempt gave no usable answer. The first four are what
// retry.on names; it labels attempt detail in error bodies ("connect_failure: ...")
// and never carries unbounded text into metrics.
type failureKind string

const (
	noFailure        failureKind = ""
	failConnect      failureKind = config.RetryConnectFailure
	failReset        failureKind = config.RetryReset
	failTimeout      failureKind = config.RetryTimeout
	failStatus       failureKind = "status"    // an HTTP answer the route treats as failed
	failCancelled    failureKind = "cancelled" // a loser, cancelled once the result was decided
	failBodyTooLarge failureKind = "body_too_large"
	failNoVersion    failureKind = "no_version" // a quorum answer whose version could not be read
	failStale        failureKind = "stale"      // below the request's minimum version: retried elsewhere, never served
	failOther        failureKind = "other"
)

// Sentinel causes used to tell why an attempt's context ended.
var (
	errAttemptTimeout = errors.New("attempt timeout")
	errLost           = errors.New("result already decided")
)

// classify names the failure behind a transport error. attemptCtx is the attempt's own
// context, whose cause says whether the engine cancelled it.
func classify(attemptCtx context.Context, err error) failureKind {
	switch cause := context.Cause(attemptCtx); {
	case errors.Is(cause, errAttemptTimeout):
		return failTimeout
	case errors.Is(cause, errLost):
		return failCancelled
	case cause != nil:
		// The request's own context ended (deadline or client gone).
		if errors.Is(cause, context.DeadlineExceeded) {
			return failTimeout
		}
		return failCancelled
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return failConnect
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return failConnect
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, errUpgrade) {
		return failReset
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return failTimeout
	}
	return failOther
}

// errUpgrade is a replica answering a read with 101 Switching Protocols (or another
// 1xx as its final answer): the connection is no longer HTTP, so it is closed and the
// attempt fails as a reset would. Envoy counts such protocol errors as resets too,
// so retry.on's reset retries them.
var errUpgrade = errors.New("replica answered with a 1xx status, not an answer to a read")

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
	// OutcomeFloorUnmet: no answer reached the request's minimum version before every
	// replica it could ask had answered, or before its deadline: the replicas have not
	// caught up with the client's write yet (a retry later may succeed).
	OutcomeFloorUnmet
	// OutcomeBadMinVersion: the request's minimum version cannot be used (an empty or
	// repeated header, or a plan without a version); nothing was sent.
	OutcomeBadMinVersion
	// OutcomeBadRequest: the request cannot be sent as it is (a path that could
	// reach outside the replicas' base path); nothing was sent.
	OutcomeBadRequest
)

// Error is a request that ended without an answer to pass on: Outcome is its kind
// (the server package maps kinds to status codes), Attempts the per-replica detail
// for the error body.
type Error struct {
	Outcome  Outcome
	Message  string
	Attempts []AttemptReport
	// MinVersion is the request's floor, "" for none.
	MinVersion string
}

func (e *Error) Error() string { return e.Message }

// AttemptReport is one attempt as the client's error body and debug logs show it.
// Version is the answer's version as the route declares it (the one a client's floor
// is compared with); Agreed is a quorum's agreement version when that is another one
// (quorum.version beside version).
type AttemptReport struct {
	Replica    string  `json:"replica"`
	Kind       string  `json:"kind"`
	Status     int     `json:"status,omitempty"`
	Error      string  `json:"error,omitempty"`
	Version    string  `json:"version,omitempty"`
	Agreed     string  `json:"quorum_version,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}
