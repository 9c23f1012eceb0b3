package hedge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

const quorumHeaderRoute = "strategy: quorum\nquorum: {read: 2, version: {header: X-Version}}"

// versioned answers 200 with X-Version v (none when v is "") and body "name v".
func versioned(name, v string) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if v != "" {
			w.Header().Set("X-Version", v)
		}
		fmt.Fprintf(w, "%s %s", name, v)
		return true
	}
}

// jsonVersioned answers {"version": v} padded with pad bytes of filler.
func jsonVersioned(v string, pad int) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		fmt.Fprintf(w, `{"version": %s, "filler": %q}`, v, strings.Repeat("x", pad))
		return true
	}
}

func attemptsByReplica(e *Error) map[string]AttemptReport {
	out := map[string]AttemptReport{}
	for _, a := range e.Attempts {
		out[a.Replica] = a
	}
	return out
}

func TestQuorumAgreementReturnsAtOnceAndCancelsTheRest(t *testing.T) {
	r3 := newBackend(t, "r3", hang) // answers only after 10s: the result must not wait for it
	// r1 and r2 answer once r3 has its request, so that its cancellation can be seen.
	r1 := newBackend(t, "r1", answerAfterFunc(r3, func(w http.ResponseWriter, r *http.Request) { versioned("r1", "7")(w, r) }))
	r2 := newBackend(t, "r2", answerAfterFunc(r3, func(w http.ResponseWriter, r *http.Request) { versioned("r2", "7")(w, r) }))
	obs := newRecorder()
	p, _ := newTestPlan(t, urls(r1, r2, r3), quorumHeaderRoute, Options{Observer: obs})

	body, res, err := do(t, p, get(t, "/kv/a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if q := res.Quorum; q == nil || *q != (QuorumInfo{Agreeing: 2, Asked: 3, Version: "7", Result: "agree"}) {
		t.Errorf("quorum info %+v, want 2 of 3 agreeing on 7", res.Quorum)
	}
	if body != res.Replica+" 7" || (res.Replica != "r1" && res.Replica != "r2") {
		t.Errorf("served %q from %s, want an agreeing replica's answer", body, res.Replica)
	}
	// Close has returned: the hung attempt's context is cancelled and its handler sees
	// the client leave.
	waitFor(t, func() bool { return r3.cancelled.Load() == 1 }, "the hung third replica was not cancelled")
	if obs.quorum["agree"] != 1 || len(obs.diverged) != 0 || obs.count("r3/primary") != 1 {
		t.Errorf("observer: quorum %v diverged %v attempts %v", obs.quorum, obs.diverged, obs.attempts)
	}
}

// versionTransport answers each host after a scripted delay on synctest's fake clock,
// with a scripted X-Version (none when "").
type versionTransport struct {
	answers map[string]fakeAnswer
	mu      sync.Mutex
	cut     []string // hosts whose request was cancelled before its answer
}

type fakeAnswer struct {
	delay   time.Duration
	version string
}

func (f *versionTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	a, ok := f.answers[req.URL.Host]
	if !ok {
		a.delay = time.Hour
	}
	t := time.NewTimer(a.delay)
	defer t.Stop()
	select {
	case <-req.Context().Done():
		f.mu.Lock()
		f.cut = append(f.cut, req.URL.Host)
		f.mu.Unlock()
		return nil, req.Context().Err()
	case <-t.C:
	}
	h := http.Header{}
	if a.version != "" {
		h.Set("X-Version", a.version)
	}
	body := req.URL.Host + " " + a.version
	return &http.Response{StatusCode: 200, Header: h, ContentLength: int64(len(body)),
		Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
}

var abc = []string{"http://a.test", "http://b.test", "http://c.test"}

func TestQuorumDisagreementWaitsForTheRest(t *testing.T) {
	for _, tc := range []struct {
		name, third, conflict string
		want                  QuorumInfo // zero: a 502
		diverged              map[string]int
	}{
		{"third agrees with the first", "5", "majority", QuorumInfo{2, 3, "5", "agree"}, map[string]int{"r2": 1}},
		{"third agrees with the second", "4", "majority", QuorumInfo{2, 3, "4", "agree"}, map[string]int{"r1": 1}},
		{"all differ, majority", "3", "majority", QuorumInfo{}, map[string]int{}},
		{"all differ, latest", "3", "latest", QuorumInfo{1, 3, "5", "latest"}, map[string]int{"r2": 1, "r3": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ft := &versionTransport{answers: map[string]fakeAnswer{
					"a.test": {time.Millisecond, "5"},
					"b.test": {2 * time.Millisecond, "4"},
					"c.test": {10 * time.Millisecond, tc.third},
				}}
				obs := newRecorder()
				p, _ := newTestPlan(t, abc, "strategy: quorum\nquorum: {read: 2, version: {header: X-Version}, conflict: "+tc.conflict+"}",
					Options{Transport: ft, Observer: obs})
				start := time.Now()
				res, err := p.Do(context.Background(), get(t, "/kv/a"), nil)
				if elapsed := time.Since(start); elapsed != 10*time.Millisecond {
					t.Errorf("decided after %v, want when the third answer came (10ms)", elapsed)
				}
				if len(ft.cut) != 0 {
					t.Errorf("cancelled %v: every answer was needed", ft.cut)
				}
				if tc.want == (QuorumInfo{}) {
					var e *Error
					if !errors.As(err, &e) || e.Outcome != OutcomeNoQuorum {
						t.Fatalf("got %v, want a 502 no quorum", err)
					}
					got := attemptsByReplica(e)
					if got["r1"].Version != "5" || got["r2"].Version != "4" || got["r3"].Version != "3" {
						t.Errorf("attempts %+v, want each replica's version", e.Attempts)
					}
					if obs.quorum["no_quorum"] != 1 {
						t.Errorf("quorum results %v", obs.quorum)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Response.Body)
				res.Close()
				if *res.Quorum != tc.want || !strings.HasSuffix(string(b), " "+tc.want.Version) {
					t.Errorf("served %q with %+v, want %+v", b, *res.Quorum, tc.want)
				}
				if fmt.Sprint(obs.diverged) != fmt.Sprint(tc.diverged) || obs.quorum[tc.want.Result] != 1 {
					t.Errorf("diverged %v results %v, want diverged %v", obs.diverged, obs.quorum, tc.diverged)
				}
			})
		})
	}
}

// The request's deadline passes while the third replica hangs and the two answers
// disagree: majority is a 504 naming what each replica said, latest serves the highest
// version that arrived (its body was buffered for that).
func TestQuorumDeadline(t *testing.T) {
	for _, conflict := range []string{"majority", "latest"} {
		t.Run(conflict, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ft := &versionTransport{answers: map[string]fakeAnswer{
					"a.test": {time.Millisecond, "5"},
					"b.test": {2 * time.Millisecond, "4"},
				}}
				obs := newRecorder()
				// The route allows 1s, an attempt as long: only the request's own 50ms
				// deadline ends the hung attempt.
				p, _ := newTestPlan(t, abc, "timeout: 1s\nstrategy: quorum\nquorum: {read: 2, version: {header: X-Version}, conflict: "+conflict+"}",
					Options{Transport: ft, Observer: obs})
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				res, err := p.Do(ctx, get(t, "/kv/a"), nil)
				if conflict == "majority" {
					var e *Error
					if !errors.As(err, &e) || e.Outcome != OutcomeDeadline {
						t.Fatalf("got %v, want OutcomeDeadline", err)
					}
					got := attemptsByReplica(e)
					if got["r1"].Version != "5" || got["r2"].Version != "4" || !strings.HasPrefix(got["r3"].Error, "timeout") {
						t.Errorf("attempts %+v, want r1 5, r2 4, r3 timed out", e.Attempts)
					}
					if obs.quorum["deadline"] != 1 {
						t.Errorf("quorum results %v, want deadline", obs.quorum)
					}
					return
				}
				if err != nil {
					t.Fatalf("latest at the deadline: %v, want the highest version served", err)
				}
				b, _ := io.ReadAll(res.Response.Body)
				res.Close()
				if string(b) != "a.test 5" || *res.Quorum != (QuorumInfo{1, 3, "5", "latest"}) {
					t.Errorf("served %q with %+v, want a.test's version 5 as latest", b, *res.Quorum)
				}
				if obs.quorum["latest"] != 1 || obs.diverged["r2"] != 1 {
					t.Errorf("results %v diverged %v", obs.quorum, obs.diverged)
				}
			})
		})
	}
}

func TestQuorumBodyTooLargeFailsThatAttempt(t *testing.T) {
	const limit = 256
	route := "strategy: quorum\nquorum: {read: 2, version: {json_pointer: /version}}"
	small, large := jsonVersioned("5", 10), jsonVersioned("5", 2*limit)

	// One answer too large: the other two still agree.
	r1, r2, r3 := newBackend(t, "r1", large), newBackend(t, "r2", small), newBackend(t, "r3", small)
	p, _ := newTestPlan(t, urls(r1, r2, r3), route, Options{MaxResponseBodyBytes: limit})
	body, res, err := do(t, p, get(t, "/kv/a"), nil)
	if err != nil || res.Replica == "r1" || !strings.Contains(body, `"version": 5`) || res.Quorum.Agreeing != 2 {
		t.Fatalf("served %q from %v (err %v), want r2 and r3's agreement", body, res, err)
	}

	// Two too large: no quorum, and the detail says why rather than comparing a prefix.
	q1, q2, q3 := newBackend(t, "r1", large), newBackend(t, "r2", large), newBackend(t, "r3", small)
	p, _ = newTestPlan(t, urls(q1, q2, q3), route, Options{MaxResponseBodyBytes: limit})
	_, _, err = do(t, p, get(t, "/kv/a"), nil)
	var e *Error
	if !errors.As(err, &e) || e.Outcome != OutcomeNoQuorum {
		t.Fatalf("got %v, want no quorum", err)
	}
	got := attemptsByReplica(e)
	for _, r := range []string{"r1", "r2"} {
		if a := got[r]; a.Version != "" || !strings.Contains(a.Error, "body_too_large") ||
			!strings.Contains(a.Error, "max_response_body_bytes") || a.Status != http.StatusOK {
			t.Errorf("%s: %+v, want a body_too_large failure naming limits.max_response_body_bytes", r, a)
		}
	}
	// Two failures of three leave no quorum possible: r3 is not waited for. Its answer
	// may have come in before the decision (version 5), been cancelled, or arrived
	// after it (a status and neither version nor error).
	if a := got["r3"]; a.Version != "5" && !strings.HasPrefix(a.Error, "cancelled") &&
		(a.Version != "" || a.Error != "" || a.Status != http.StatusOK) {
		t.Errorf("r3: %+v, want version 5, cancelled, or an answer after the decision", a)
	}
}

func TestQuorumMissingVersionIsReported(t *testing.T) {
	// r1's answer has no version: it does not count, so r2 and r3 must agree.
	r1, r2, r3 := newBackend(t, "r1", versioned("r1", "")), newBackend(t, "r2", versioned("r2", "8")), newBackend(t, "r3", versioned("r3", "9"))
	obs := newRecorder()
	p, _ := newTestPlan(t, urls(r1, r2, r3), quorumHeaderRoute, Options{Observer: obs})
	_, _, err := do(t, p, get(t, "/kv/a"), nil)
	var e *Error
	if !errors.As(err, &e) || e.Outcome != OutcomeNoQuorum {
		t.Fatalf("got %v, want a 502 no quorum", err)
	}
	got := attemptsByReplica(e)
	if a := got["r1"]; a.Error != "no_version: no X-Version header" || a.Status != http.StatusOK {
		t.Errorf("r1: %+v, want the detail to say the X-Version header is missing", a)
	}
	if got["r2"].Version != "8" || got["r3"].Version != "9" {
		t.Errorf("attempts %+v", e.Attempts)
	}
	if !strings.Contains(e.Message, "fewer than 2 of 3") || obs.quorum["no_quorum"] != 1 {
		t.Errorf("message %q results %v", e.Message, obs.quorum)
	}
}

// conns counts the connections a loopback replica accepted.
type connCounter struct {
	srv   *httptest.Server
	conns atomic.Int64
}

func newConnCounter(t *testing.T, h http.HandlerFunc) *connCounter {
	c := &connCounter{srv: httptest.NewUnstartedServer(h)}
	c.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.conns.Add(1)
		}
	}
	c.srv.Start()
	t.Cleanup(c.srv.Close)
	return c
}

// With header versions, both agreeing answers arrive before the decision and only one
// is served; the other's small body is read, so its connection is reused rather than
// torn down by the cancel that ends every request.
func TestQuorumAgreeingAnswersKeepTheirConnections(t *testing.T) {
	answer := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Version", "3")
		io.WriteString(w, "value")
	}
	r1, r2 := newConnCounter(t, answer), newConnCounter(t, answer)
	r3 := newBackend(t, "r3", hang) // always cancelled: its connection cannot be kept
	p, _ := newTestPlan(t, []string{r1.srv.URL, r2.srv.URL, r3.srv.URL}, quorumHeaderRoute, Options{})
	const requests = 20
	for range requests {
		body, res, err := do(t, p, get(t, "/kv/a"), nil)
		if err != nil || body != "value" || res.Quorum.Agreeing != 2 {
			t.Fatalf("got %q %v %v", body, res, err)
		}
	}
	// Some of r3's attempts are cancelled before its handler runs; those that ran saw
	// their client leave.
	waitFor(t, func() bool { return r3.cancelled.Load() == r3.calls.Load() }, "r3's attempts were not cancelled")
	t.Logf("new connections: r1 %d, r2 %d, r3 %d calls", r1.conns.Load(), r2.conns.Load(), r3.calls.Load())
	if n := r1.conns.Load() + r2.conns.Load(); n > 4 {
		t.Errorf("%d connections to the two agreeing replicas for %d requests: the loser's was torn down each time", n, requests)
	}
}

// HEAD on a quorum whose version is the body hash: the replicas are asked with GET
// (a HEAD answer has no body to agree on) and a Go client gets headers only, with
// the real Content-Length.
func TestQuorumHeadThroughTheTransport(t *testing.T) {
	bs := []*backend{newBackend(t, "same", nil), newBackend(t, "same", nil), newBackend(t, "same", nil)}
	p, _ := newTestPlan(t, urls(bs...), "strategy: quorum\nquorum: {read: 2}", Options{})
	client := &http.Client{Transport: &Transport{Plan: p}}
	resp, err := client.Head("http://kv.invalid/kv/a")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Content-Length") != "4" {
		t.Errorf("HEAD: %d, body %q, Content-Length %q; want 200, no body, 4 (len \"same\")",
			resp.StatusCode, body, resp.Header.Get("Content-Length"))
	}
}

// With header versions a quorum still reads every body before it counts the answer:
// a first answer that agrees on the headers and is then cut is a failed answer, and
// the two whole ones that agree are served.
func TestQuorumHeaderVersionCountsOnlyWholeBodies(t *testing.T) {
	const size = 16 << 10
	cut := func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("X-Version", "7")
		return cutBody(size, false)(w, r)
	}
	whole := func(w http.ResponseWriter, r *http.Request) bool {
		time.Sleep(20 * time.Millisecond)
		w.Header().Set("X-Version", "7")
		return fullBody(size)(w, r)
	}
	r1, r2, r3 := newBackend(t, "r1", cut), newBackend(t, "r2", whole), newBackend(t, "r3", whole)
	p, set := newTestPlan(t, urls(r1, r2, r3), quorumHeaderRoute, Options{})
	for range 5 {
		body, res, err := do(t, p, get(t, "/kv/a"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Replica == "r1" || body != strings.Repeat("b", size) || res.Quorum.Agreeing != 2 {
			t.Fatalf("served %d bytes from %s (%+v); want a whole body agreed by r2 and r3", len(body), res.Replica, res.Quorum)
		}
	}
	if f := set.Replicas[0].Stats().Failures; f != 5 {
		t.Errorf("r1 failures %d, want its 5 cut bodies", f)
	}
}

// HEAD on a quorum with header versions goes out as HEAD; the answers' bodies are read
// (there are none: a Content-Length over max_response_body_bytes is no reason to fail
// one) and the Content-Length passed on is the replicas', the GET's.
func TestQuorumHeadWithHeaderVersions(t *testing.T) {
	bs := []*backend{newBackend(t, "a", versioned("r", "3")), newBackend(t, "b", versioned("r", "3")), newBackend(t, "c", versioned("r", "3"))}
	p, _ := newTestPlan(t, urls(bs...), quorumHeaderRoute, Options{MaxResponseBodyBytes: 2})
	client := &http.Client{Transport: &Transport{Plan: p}}
	resp, err := client.Head("http://kv.invalid/kv/a")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Content-Length") != "3" {
		t.Errorf("HEAD: %d, body %q, Content-Length %q; want 200, no body, 3 (len \"r 3\")",
			resp.StatusCode, body, resp.Header.Get("Content-Length"))
	}
}
