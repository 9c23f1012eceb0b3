package hedge

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/hedgegate/hedgegate/replicas"
)

// answerReadAhead is how much of an answer's body a hedge or parallel attempt reads
// before it reports, so before the answer can win (limits.max_response_body_bytes
// lowers it). An answer wins when its headers have come and its body has either ended
// within the read-ahead or passed it; a body that fails inside it (a reset, a replica
// that closes mid-answer) is a failed attempt like a reset before the headers: the
// request retries elsewhere or another attempt wins, and the client never sees it.
// This is Envoy's rule (a request is retried only until the first byte went to the
// client) with a buffer that makes most answers retryable: most reads of a KV store or
// an index are well under 64 KiB. A longer body streams once it has won and can still
// be cut; then the client's connection is aborted (the server's cutShort).
//
// 64 KiB: Envoy's and HAProxy's default buffers are of that order (Envoy's
// per_connection_buffer_limit_bytes is 1 MiB, HAProxy's tune.bufsize 16 KiB), a read
// of it on a LAN costs microseconds (BenchmarkWinnerBody), and at most one such buffer
// per attempt in flight is held, growing only as bytes arrive. No config key: the
// bound that an operator needs, memory, is already max_response_body_bytes.
const answerReadAhead = 64 << 10

// readBody reads what the mode asks of the answer's body before the attempt reports.
// A body read whole goes to a.body (resp.Body then reads from it). streaming: the
// body goes on past the read-ahead; head is what was read of it, the rest still in
// resp.Body. The answer to a HEAD (headAnswer: its Content-Length is the GET's) has no
// body to read: nothing is. A quorum's body over the limit fails the attempt as
// failBodyTooLarge, its answer kept; any read error is returned, the answer dropped.
func (p *Plan) readBody(a *attempt, resp *http.Response, headAnswer bool) (head []byte, streaming bool, err error) {
	if headAnswer {
		return nil, false, nil
	}
	limit := p.readAhead
	if p.mode.read == readAll {
		limit = p.maxBody
		if resp.ContentLength > limit {
			return nil, false, a.tooLarge(resp)
		}
	}
	b, complete, err := readPrefix(resp.Body, limit, resp.ContentLength)
	switch {
	case err != nil:
		resp.Body.Close()
		// The error keeps its kind: a cut body is classified (and retried) as the
		// reset or timeout it was.
		return nil, false, fmt.Errorf("body cut after %d bytes: %w", len(b), err)
	case !complete && p.mode.read == readAll:
		return nil, false, a.tooLarge(resp)
	case !complete:
		return b, true, nil
	}
	resp.Body.Close() // read to its end: the connection is back in the pool already
	a.body = b
	resp.Body = newBufferedBody(b)
	return nil, false, nil
}

// tooLarge fails the attempt as failBodyTooLarge, keeping its answer for the report.
func (a *attempt) tooLarge(resp *http.Response) error {
	resp.Body.Close()
	a.resp, a.failure, a.err = resp, failBodyTooLarge, errBodyTooLarge
	a.timer.Stop()
	return errBodyTooLarge
}

// readPrefix reads body until it ends or more than limit bytes have come. complete:
// it ended, and b is all of it; otherwise b is its first limit+1 bytes, the rest
// unread. sizeHint is the declared length (-1 when unknown): a known length is read
// into a buffer of its size, an unknown one within the read-ahead through a pooled
// buffer and copied out at its size, so an answer holds only what it is.
func readPrefix(body io.Reader, limit, sizeHint int64) (b []byte, complete bool, err error) {
	if sizeHint < 0 && limit <= answerReadAhead {
		scratch := readAheadBuffers.Get().(*[]byte)
		defer readAheadBuffers.Put(scratch)
		b, complete, err = readInto(body, (*scratch)[:0:limit+1], limit)
		return bytes.Clone(b), complete, err
	}
	size := int64(512)
	if sizeHint >= 0 {
		size = sizeHint + 1 // room to see the end without growing
	}
	return readInto(body, make([]byte, 0, min(size, limit+1)), limit)
}

// readAheadBuffers hold one read-ahead each (answerReadAhead + 1 bytes, the last to
// tell a body of exactly the read-ahead from a longer one).
var readAheadBuffers = sync.Pool{New: func() any {
	b := make([]byte, answerReadAhead+1)
	return &b
}}

// readInto reads body into b until it ends or b holds more than limit bytes,
// growing b (by doubling, up to limit+1) when it is full.
func readInto(body io.Reader, b []byte, limit int64) ([]byte, bool, error) {
	for int64(len(b)) <= limit {
		if len(b) == cap(b) {
			b = slices.Grow(b, int(min(int64(cap(b)), limit+1-int64(len(b)))))
		}
		n, err := body.Read(b[len(b):min(int64(cap(b)), limit+1)])
		b = b[:len(b)+n]
		switch {
		case err == io.EOF:
			return b, true, nil
		case err != nil:
			return b, false, err
		}
	}
	return b, false, nil
}

// streamingBody is the body of an answer longer than the read-ahead, once it has won:
// the part read, then the rest as the replica sends it. The replica counts the attempt
// in flight until the body ends, and learns then how it ended: a body cut by the
// replica or the deadline is a failure; one read to its end, or closed early by its
// reader (a client that went away), is the answer's own verdict. Either way the
// latency recorded is the attempt's elapsed: the time at which it won, the moment the
// hedge delay is measured against.
type streamingBody struct {
	head    []byte
	rest    io.ReadCloser
	a       *attempt
	end     func(time.Duration, replicas.Verdict)
	verdict replicas.Verdict // the answer's, if its body ends well
	once    sync.Once
}

func (s *streamingBody) Read(p []byte) (int, error) {
	if len(s.head) > 0 {
		n := copy(p, s.head)
		s.head = s.head[n:]
		return n, nil
	}
	n, err := s.rest.Read(p)
	if err != nil {
		s.ended(err)
	}
	return n, err
}

func (s *streamingBody) Close() error {
	err := s.rest.Close()
	s.ended(nil)
	return err
}

// ended tells the replica, once, how the body ended; err nil or io.EOF: well.
func (s *streamingBody) ended(err error) {
	s.once.Do(func() {
		v := s.verdict
		if err != nil && err != io.EOF {
			v = s.a.verdictFor(classify(s.a.ctx, err))
		}
		s.end(s.a.elapsed, v)
	})
}
