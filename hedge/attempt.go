package hedge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hedgegate/hedgegate/replicas"
)

// failedAnswerLimit bounds what is kept of a failed HTTP answer (a 5xx) so that it
// can be passed through when no replica does better.
const failedAnswerLimit = 64 << 10

// loserDrainLimit is how much of a loser's body is read before closing it, so that a
// small body lets its connection go back to the pool instead of being torn down.
const loserDrainLimit = 4 << 10

// send performs one attempt and fills in its outcome; end tells the replica how it
// went, once the body has been read as the mode says (readBody), or, for an answer
// whose body streams on past the read-ahead, once that stream ends (streamingBody).
// The latency it records is the time until the answer could win: the moment the
// hedge delay and the attempt timeout are measured against.
func (p *Plan) send(a *attempt, tmpl *http.Request, body []byte, end func(time.Duration, replicas.Verdict)) {
	resp, err := p.transport.RoundTrip(attemptRequest(a.ctx, a.replica, tmpl, body))
	if err == nil && resp.StatusCode < 200 {
		// 101 Switching Protocols (net/http hands the raw connection over as the body)
		// or another 1xx as the final answer is no answer to a read, and reading or
		// draining that body would hold the attempt for as long as the replica keeps
		// the connection open: close it at once and fail the attempt.
		resp.Body.Close()
		resp, err = nil, fmt.Errorf("replica answered %s: %w", resp.Status, errUpgrade)
	}
	var head []byte
	var streaming bool
	if err == nil {
		head, streaming, err = p.readBody(a, resp, tmpl.Method == http.MethodHead)
	}
	a.elapsed = time.Since(a.start)
	if a.failure == failBodyTooLarge {
		end(a.elapsed, replicas.VerdictSuccess)
		return
	}
	if err == nil && !a.timer.Stop() && p.mode.cutAtTimeout {
		// The attempt timeout fired as the answer arrived: its context is gone, so the
		// body could not be read. Count it as the timeout it was, unless the timer was
		// stopped because the request was decided meanwhile (finish): then a loser.
		drainClose(resp.Body)
		resp, err = nil, errAttemptTimeout
		if errors.Is(context.Cause(a.ctx), errLost) {
			err = errLost
		}
	}
	if err != nil {
		end(a.elapsed, a.failed(err))
		return
	}
	a.resp = resp
	verdict := replicas.VerdictSuccess
	if resp.StatusCode >= 500 {
		verdict = replicas.VerdictFailure
	}
	if streaming {
		resp.Body = &streamingBody{head: head, rest: resp.Body, a: a, end: end, verdict: verdict}
	} else {
		end(a.elapsed, verdict)
	}
	if p.retry.retryableStatus(resp.StatusCode) {
		a.failure = failStatus
		if a.body == nil {
			a.body, _ = readBounded(resp.Body, failedAnswerLimit)
			resp.Body.Close()
			if a.body == nil {
				a.body = []byte{}
			}
		}
	}
}

// failed records a transport error (or an attempt timeout) as the attempt's failure
// and says what the replica should learn from it.
func (a *attempt) failed(err error) replicas.Verdict {
	a.timer.Stop()
	a.err, a.failure = err, classify(a.ctx, err)
	if errors.Is(err, errAttemptTimeout) {
		a.failure = failTimeout
	}
	return a.verdictFor(a.failure)
}

// verdictFor is what the replica learns from an attempt that failed as f: a cancelled
// loser is no failure of its replica, unless a later attempt overtook it.
func (a *attempt) verdictFor(f failureKind) replicas.Verdict {
	switch {
	case f == failCancelled && a.overtaken.Load():
		return replicas.VerdictOvertaken
	case f == failCancelled:
		return replicas.VerdictCancelled
	}
	return replicas.VerdictFailure
}

// attemptRequest copies the template for one replica: own context, own URL, own body
// reader. The header is the template's, shared by every attempt: a RoundTripper does
// not change its request, and one that adds headers (tracing's propagator) copies it
// first. A copy per attempt was a tenth of a proxied request's allocations.
func attemptRequest(ctx context.Context, rep *replicas.Replica, tmpl *http.Request, body []byte) *http.Request {
	req := tmpl.WithContext(ctx)
	u := *rep.URL
	u.Path = joinPath(rep.URL.Path, tmpl.URL.Path)
	if tmpl.URL.RawPath != "" {
		u.RawPath = joinPath(rep.URL.EscapedPath(), tmpl.URL.EscapedPath())
	} else {
		u.RawPath = ""
	}
	u.RawQuery = tmpl.URL.RawQuery
	u.Fragment = ""
	req.URL = &u
	req.Host = ""
	req.RequestURI = ""
	if len(body) > 0 {
		// io.NopCloser over a bytes.Reader, not bufferedBody: Request.Write knows that
		// pair as a body in memory and writes it with the headers, where any other
		// reader gets its headers flushed first, in a write of their own, ahead of a
		// body that may then never go out (the attempt lost meanwhile).
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.ContentLength = int64(len(body))
	} else {
		req.Body, req.GetBody, req.ContentLength = nil, nil, 0
	}
	// The body is buffered, so it goes with its length even when the client sent it
	// chunked: replicas that take no chunked bodies answer those with 411. Trailers
	// can only follow a chunked body, so a chunked request's trailers are dropped.
	req.TransferEncoding, req.Trailer = nil, nil
	return req
}

func joinPath(base, path string) string {
	switch {
	case base == "" || base == "/":
		if path == "" {
			return "/"
		}
		return path
	case path == "" || path == "/":
		return base
	}
	return strings.TrimSuffix(base, "/") + "/" + strings.TrimPrefix(path, "/")
}

var errBodyTooLarge = errors.New("response body larger than limits.max_response_body_bytes")

// readBounded reads all of body, failing rather than truncating past limit bytes.
func readBounded(body io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return b[:limit], errBodyTooLarge
	}
	return b, nil
}

func drainClose(body io.ReadCloser) {
	io.CopyN(io.Discard, body, loserDrainLimit)
	body.Close()
}

// bufferedResponse is resp with body, already read, as its body. The header is
// resp's own: the attempt's answer, which nothing reads after it is decided.
func bufferedResponse(resp *http.Response, body []byte) *http.Response {
	out := *resp
	out.Body = newBufferedBody(body)
	out.ContentLength = int64(len(body))
	return &out
}

// bufferedBody is a body already read whole: one allocation where
// io.NopCloser(bytes.NewReader(b)) makes two.
type bufferedBody struct{ bytes.Reader }

func newBufferedBody(b []byte) *bufferedBody {
	body := new(bufferedBody)
	body.Reset(b)
	return body
}

func (*bufferedBody) Close() error { return nil }

// reports describes every attempt; call it only once no attempt goroutine runs.
func (r *run) reports() []AttemptReport {
	out := make([]AttemptReport, 0, len(r.attempts))
	for _, a := range r.attempts {
		rep := AttemptReport{
			Replica:    a.replica.Name,
			Kind:       a.kind.String(),
			DurationMS: float64(a.elapsed.Microseconds()) / 1000,
			Version:    a.ver.Raw,
			Agreed:     a.agreed,
		}
		if a.resp != nil {
			rep.Status = a.resp.StatusCode
		}
		switch {
		case a.err != nil:
			rep.Error = string(a.failure) + ": " + a.err.Error()
		case a.failure != noFailure:
			rep.Error = string(a.failure)
		}
		out = append(out, rep)
	}
	return out
}
