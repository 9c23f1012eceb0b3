package hedge

import (
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
	res, err := t.Plan.Do(req.Context(), req, body)
	if err != nil {
		return nil, err
	}
	resp := *res.Response
	resp.Body = resultBody{Reader: res.Response.Body, result: res}
	resp.Request = req
	return &resp, nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// resultBody ties the result's lifetime to the response body's.
type resultBody struct {
	io.Reader
	result *Result
}

func (b resultBody) Close() error { return b.result.Close() }
