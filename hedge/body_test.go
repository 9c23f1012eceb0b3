package hedge

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// cutBody answers 200 with the first half of a size-byte body, declared with its
// Content-Length or chunked, and then drops the connection: Toxiproxy's limit_data, a
// replica that crashes mid-answer.
func cutBody(size int, chunked bool) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !chunked {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		w.Write(bytes.Repeat([]byte("c"), size/2))
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler) // closes the connection without ending the body
	}
}

// fullBody answers 200 with size bytes of b.
func fullBody(size int) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		w.Write(bytes.Repeat([]byte("b"), size))
		return true
	}
}

// A body cut within the read-ahead is a failed attempt: the request is retried
// elsewhere (hedge) or another attempt wins (parallel), so the client gets a whole
// answer, and the replica that cut it is charged a failure.
func TestBodyCutWithinTheReadAheadIsAFailedAttempt(t *testing.T) {
	const size = 16 << 10
	for _, tc := range []struct {
		name, route string
		chunked     bool
	}{
		{"hedge/length", "hedge: {initial_delay: 5s}", false},
		{"hedge/chunked", "hedge: {initial_delay: 5s}", true},
		{"parallel/length", "strategy: parallel\nparallel: {fanout: 2}", false},
		{"parallel/chunked", "strategy: parallel\nparallel: {fanout: 2}", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cut := newBackend(t, "cut", cutBody(size, tc.chunked))
			// The good replica answers 50ms after the cut one was asked, so the cut
			// answer's headers always come first.
			good := newBackend(t, "good", func(w http.ResponseWriter, r *http.Request) bool {
				waitFor(t, func() bool { return cut.calls.Load() > 0 }, "the cut replica was never asked")
				time.Sleep(50 * time.Millisecond)
				return fullBody(size)(w, r)
			})
			p, set := newTestPlan(t, urls(cut, good), tc.route, Options{})
			body, res, err := do(t, p, get(t, "/kv/a"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Replica != "r2" || body != strings.Repeat("b", size) {
				t.Errorf("served %d bytes from %s, want good's whole %d-byte body", len(body), res.Replica, size)
			}
			if st := set.Replicas[0].Stats(); st.Failures != 1 || st.Inflight != 0 {
				t.Errorf("cut replica: failures %d, in flight %d; want its cut body counted as the failure it was", st.Failures, st.Inflight)
			}
		})
	}
}

// held answers 200 with a size-byte body: the first part at once, the rest once
// release is closed, whole or (when cut) not at all.
func held(size, first int, release chan struct{}, cut bool) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(bytes.Repeat([]byte("h"), first))
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return false
		case <-time.After(10 * time.Second):
			return false
		}
		if cut {
			panic(http.ErrAbortHandler)
		}
		w.Write(bytes.Repeat([]byte("h"), size-first))
		return true
	}
}

// A body larger than the read-ahead streams after the decision; its replica counts
// it in flight until the stream ends, and a failure when it was cut.
func TestStreamingAnswerIsInFlightUntilItsBodyEnds(t *testing.T) {
	const size, first = 256 << 10, 128 << 10
	for _, cut := range []bool{false, true} {
		t.Run("cut="+strconv.FormatBool(cut), func(t *testing.T) {
			release := make(chan struct{})
			b := newBackend(t, "big", held(size, first, release, cut))
			p, set := newTestPlan(t, urls(b), "", Options{})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := p.Do(ctx, get(t, "/kv/a"), nil)
			if err != nil {
				t.Fatal(err)
			}
			rep := set.Replicas[0]
			if n := rep.Inflight(); n != 1 {
				t.Errorf("in flight %d while the body streams, want 1", n)
			}
			close(release)
			n, rerr := io.Copy(io.Discard, res.Response.Body)
			res.Close()
			if cut != (rerr != nil) || (!cut && n != size) {
				t.Fatalf("read %d bytes, err %v; cut %v", n, rerr, cut)
			}
			st := rep.Stats()
			if st.Inflight != 0 || st.Requests != 1 || (st.Failures == 1) != cut {
				t.Errorf("after the body: in flight %d, requests %d, failures %d; cut %v", st.Inflight, st.Requests, st.Failures, cut)
			}
		})
	}
}

// slowBodyTransport answers every host's headers at once and its body after the
// host's delay, on synctest's clock: a replica whose headers are quick and whose body
// crawls (Toxiproxy's bandwidth).
type slowBodyTransport struct{ body map[string]time.Duration }

func (s slowBodyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	d, ok := s.body[req.URL.Host]
	if !ok {
		d = time.Hour
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, ContentLength: int64(len(req.URL.Host)),
		Body: &delayedBody{ctx: req.Context(), at: time.Now().Add(d), data: req.URL.Host}, Request: req}, nil
}

type delayedBody struct {
	ctx  context.Context
	at   time.Time
	data string
	r    *strings.Reader
}

func (b *delayedBody) Read(p []byte) (int, error) {
	if b.r == nil {
		t := time.NewTimer(time.Until(b.at))
		defer t.Stop()
		select {
		case <-b.ctx.Done():
			return 0, b.ctx.Err()
		case <-t.C:
		}
		b.r = strings.NewReader(b.data)
	}
	return b.r.Read(p)
}

func (b *delayedBody) Close() error { return nil }

// An answer wins when its body has come, not its headers: the hedge delay runs
// against the same moment, and the replica's histogram records it.
func TestAnswerWinsWhenItsBodyHasCome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := slowBodyTransport{body: map[string]time.Duration{"a.test": 100 * time.Millisecond, "b.test": 3 * time.Millisecond}}
		p, set := newTestPlan(t, []string{"http://a.test", "http://b.test"}, "hedge: {initial_delay: 10ms}", Options{Transport: tr})
		start := time.Now()
		res, err := p.Do(context.Background(), get(t, "/kv/a"), nil)
		if err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		body, _ := io.ReadAll(res.Response.Body)
		res.Close()
		if res.Replica != "r2" || res.Kind != KindHedge || string(body) != "b.test" || elapsed != 13*time.Millisecond {
			t.Errorf("served %q from %s (%v) after %v; want the hedge to b at 10ms, answered at 13ms", body, res.Replica, res.Kind, elapsed)
		}
		if w := set.Replicas[1].Latency().Snapshot(); w.Count() != 1 || w.Max() < 3*time.Millisecond {
			t.Errorf("b's histogram: %d samples, max %v; want its 3ms time to the whole answer", w.Count(), w.Max())
		}
	})
}

// An answer whose body is still coming at the request's deadline failed by timeout,
// and its replica is told so: the engine cancels it with the deadline as the cause,
// not as a loser of a decided request.
func TestBodyStillComingAtTheDeadlineIsATimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := slowBodyTransport{body: map[string]time.Duration{"a.test": time.Hour}}
		p, set := newTestPlan(t, []string{"http://a.test"}, "", Options{Transport: tr})
		for range 20 {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			_, err := p.Do(ctx, get(t, "/kv/a"), nil)
			cancel()
			var e *Error
			if !errors.As(err, &e) || e.Outcome != OutcomeDeadline || !strings.HasPrefix(e.Attempts[0].Error, "timeout:") {
				t.Fatalf("got %v (%+v), want a deadline whose attempt timed out", err, e)
			}
		}
		if st := set.Replicas[0].Stats(); st.Failures != 20 {
			t.Errorf("failures %d of %d requests, want each counted", st.Failures, st.Requests)
		}
	})
}

// writeCounter counts the writes that reach it.
type writeCounter struct{ writes int }

func (w *writeCounter) Write(p []byte) (int, error) { w.writes++; return len(p), nil }

// An attempt's request body is one Request.Write knows to be in memory, so the
// headers and the body leave in one write. Any other reader has its headers flushed
// ahead of it: a write of their own, and a replica that starts on the headers while
// the body may never come (CI saw a hedge's loser cut between the two).
func TestAttemptBodyGoesWithItsHeaders(t *testing.T) {
	_, set := newTestPlan(t, []string{"http://127.0.0.1:1"}, "methods: [POST]", Options{})
	tmpl, _ := http.NewRequest(http.MethodPost, "http://gateway.invalid/kv/a", nil)
	req := attemptRequest(context.Background(), set.Replicas[0], tmpl, []byte(`{"query":"x"}`))
	var w writeCounter
	bw := bufio.NewWriter(&w)
	if err := req.Write(bw); err != nil {
		t.Fatal(err)
	}
	bw.Flush()
	if w.writes != 1 {
		t.Errorf("the request went out in %d writes, want 1: the body is not one Request.Write knows is in memory", w.writes)
	}
}
