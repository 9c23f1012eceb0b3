package hedge

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
)

// Transport is an http.RoundTripper that runs each request through a Plan, so a Go
// program can get hedged reads without running the gateway:
//
//	client := &http.Client{Transport: &hedge.Transport{Plan: plan}}
//
// The request's path and query are sent to the plan's replicas; its host is ignored.
// Each request gets the plan's timeout as its deadline, unless its context ends
// sooner; it covers reading the body too, as http.Client.Timeout does.
//
// On a plan with a version, each answer carries it in X-Hedgegate-Version, and a
// request carrying a floor (WithMinVersion on its context, or the plan's
// MinVersionHeader, X-Min-Version by default) is answered only with a version at
// least that high; otherwise RoundTrip returns an *Error with OutcomeFloorUnmet.
type Transport struct {
	// Plan runs every request. Required.
	Plan *Plan
	// Methods are the reads; a request with another method is refused with an error,
	// since only reads are safe to send twice. Nil: GET and HEAD.
	Methods []string
	// MaxBodyBytes bounds the request body, buffered once and replayed to every
	// attempt. Zero: 1 MiB.
	MaxBodyBytes int64
}

var _ http.RoundTripper = (*Transport)(nil)

// RoundTrip implements http.RoundTripper. Closing the response body releases the
// request's other attempts.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	methods := t.Methods
	if methods == nil {
		methods = []string{http.MethodGet, http.MethodHead}
	}
	if !slices.Contains(methods, req.Method) {
		closeBody(req)
		return nil, fmt.Errorf("hedge: %s is not a declared read method", req.Method)
	}
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		limit := t.MaxBodyBytes
		if limit <= 0 {
			limit = 1 << 20
		}
		var err error
		body, err = readBounded(req.Body, limit)
		closeBody(req)
		if err != nil {
			return nil, fmt.Errorf("hedge: request body: %w", err)
		}
	}
	ctx, cancel := req.Context(), context.CancelFunc(func() {})
	if t.Plan.timeout > 0 { // zero only in a config.Route built by hand, unvalidated
		ctx, cancel = context.WithTimeout(ctx, t.Plan.timeout)
	}
	// The attempts share the header they are sent with, and a transport may read it
	// after RoundTrip returned (net/http's HTTP/2 one, for a cancelled stream), so past
	// Close: the caller's own may change then, as the RoundTripper contract allows.
	send := *req
	send.Header = req.Header.Clone()
	res, err := t.Plan.Do(ctx, &send, body)
	if err != nil {
		cancel()
		return nil, err
	}
	resp := *res.Response
	if t.Plan.Versioned() {
		// The plan's word, never a replica's: absent when the answer carried none.
		if resp.Header = resp.Header.Clone(); resp.Header == nil {
			resp.Header = http.Header{}
		}
		resp.Header.Del(VersionHeader)
		if res.Version != "" {
			resp.Header.Set(VersionHeader, res.Version)
		}
	}
	resp.Body = resultBody{Reader: res.Response.Body, result: res, cancel: cancel}
	resp.Request = req
	return &resp, nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// resultBody ties the result's lifetime, and its deadline's, to the response body's.
type resultBody struct {
	io.Reader
	result *Result
	cancel context.CancelFunc
}

func (b resultBody) Close() error {
	err := b.result.Close()
	b.cancel()
	return err
}
