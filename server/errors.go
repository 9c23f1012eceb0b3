package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hedgegate/hedgegate/hedge"
)

// errorBody is the JSON every gateway-made error answer carries (DESIGN.md).
type errorBody struct {
	Error string `json:"error"`
	Route string `json:"route,omitempty"`
	// MinVersion is the floor the request carried (X-Min-Version), when it had one.
	MinVersion string                `json:"min_version,omitempty"`
	Attempts   []hedge.AttemptReport `json:"attempts,omitempty"`
	// Problems are a refused reload's config problems, as `gateway validate` prints them.
	Problems []string `json:"problems,omitempty"`
}

// refusal is a kind of answer the edge gives by itself, before or instead of asking
// replicas. Its status is chosen in errorAnswer, nowhere else.
type refusal int

const (
	refuseBadRequest      refusal = iota // 400: a malformed X-Request-Timeout, path or body
	refuseNotFound                       // 404: no route (or advisor route) of that name or path
	refuseMethod                         // 405: not one of the route's reads
	refuseBodyTimeout                    // 408: the body missed the route's deadline
	refuseBodyTooLarge                   // 413: over limits.max_request_body_bytes
	refuseHeadersTooLarge                // 431: over limits.max_header_bytes
	refuseShed                           // 503: over limits.max_inflight
	refuseNoMembers                      // 503: a discovery set has no member, or fewer than quorum.read
)

// edgeError is a refusal with its message. allow is the Allow header of a 405.
type edgeError struct {
	kind     refusal
	msg      string
	allow    string
	problems []string
}

func (e *edgeError) Error() string { return e.msg }

func refuse(kind refusal, msg string) *edgeError { return &edgeError{kind: kind, msg: msg} }

// statusClientClosed is nginx's code for a client that went away: what the metrics and
// logs record, written for form's sake (nobody reads it).
const statusClientClosed = 499

// answerHead is what an error answer starts with. kind names the error in traces
// (error.type): a few fixed words, never the message.
type answerHead struct {
	status int
	header map[string]string
	kind   string
}

// errorAnswer is the one place an error becomes a status code, headers and a JSON body:
// the edge's own refusals (*edgeError) and the engine's outcomes (*hedge.Error). Any
// other error is a 502: the gateway could not get an answer and does not know why.
func errorAnswer(route string, err error) (answerHead, errorBody) {
	body := errorBody{Error: err.Error(), Route: route}
	var edge *edgeError
	var herr *hedge.Error
	switch {
	case errors.As(err, &edge):
		body.Problems = edge.problems
		switch edge.kind {
		case refuseBadRequest:
			return answerHead{status: http.StatusBadRequest, kind: "bad_request"}, body
		case refuseNotFound:
			return answerHead{status: http.StatusNotFound, kind: "not_found"}, body
		case refuseMethod:
			return answerHead{status: http.StatusMethodNotAllowed, header: map[string]string{"Allow": edge.allow}, kind: "method_not_allowed"}, body
		case refuseBodyTimeout:
			// readBody also closes an HTTP/1.1 connection, whose rest of the body may
			// still come.
			return answerHead{status: http.StatusRequestTimeout, kind: "body_timeout"}, body
		case refuseBodyTooLarge:
			return answerHead{status: http.StatusRequestEntityTooLarge, kind: "body_too_large"}, body
		case refuseHeadersTooLarge:
			return answerHead{status: http.StatusRequestHeaderFieldsTooLarge, kind: "headers_too_large"}, body
		case refuseShed:
			// At once, with a hint: queueing here would only turn overload into timeouts.
			return answerHead{status: http.StatusServiceUnavailable, header: map[string]string{"Retry-After": "1"}, kind: "shed"}, body
		case refuseNoMembers:
			// Nothing to send to until a lookup finds members: the next one is seconds away.
			return answerHead{status: http.StatusServiceUnavailable, header: map[string]string{"Retry-After": "1"}, kind: "no_members"}, body
		}
	case errors.As(err, &herr):
		body.Error, body.Attempts, body.MinVersion = herr.Message, herr.Attempts, herr.MinVersion
		switch herr.Outcome {
		case hedge.OutcomeDeadline:
			return answerHead{status: http.StatusGatewayTimeout, kind: "deadline"}, body
		case hedge.OutcomeCancelled:
			return answerHead{status: statusClientClosed, kind: "cancelled"}, body
		case hedge.OutcomeNoReplica:
			return answerHead{status: http.StatusServiceUnavailable, kind: "no_replica"}, body
		case hedge.OutcomeFloorUnmet:
			// Not caught up yet, not broken: the replicas usually are within
			// milliseconds, so the client may come back soon (the body lists each
			// replica's version).
			return answerHead{status: http.StatusServiceUnavailable, header: map[string]string{"Retry-After": "1"}, kind: "floor_unmet"}, body
		case hedge.OutcomeBadMinVersion:
			return answerHead{status: http.StatusBadRequest, kind: "bad_min_version"}, body
		case hedge.OutcomeBadRequest:
			// The engine's own path check (hedge/path.go); the edge's path rule
			// refuses such a path first, so this is only a second line.
			return answerHead{status: http.StatusBadRequest, kind: "bad_request"}, body
		case hedge.OutcomeAllFailed:
			return answerHead{status: http.StatusBadGateway, kind: "all_failed"}, body
		case hedge.OutcomeNoQuorum:
			return answerHead{status: http.StatusBadGateway, kind: "no_quorum"}, body
		case hedge.OutcomeStale:
			return answerHead{status: http.StatusBadGateway, kind: "stale"}, body
		}
	}
	return answerHead{status: http.StatusBadGateway, kind: "other"}, body
}

// writeFailure answers err as errorAnswer says and returns the status sent. It writes
// even when the client seems gone (499): returning without a word would make net/http
// send an empty 200 if it is still there.
func writeFailure(w http.ResponseWriter, route string, err error) int {
	head, body := errorAnswer(route, err)
	traceFailure(w, head.kind, body.Error, err)
	h := w.Header()
	for k, v := range head.header {
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(head.status)
	json.NewEncoder(w).Encode(body) // the client may be gone; nothing useful to do with the error
	return head.status
}
