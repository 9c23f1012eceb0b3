package replicas

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawReplica is a loopback TCP server that reads HTTP requests and answers each with
// whatever bytes answer returns for it (conn: which connection, from 1; req: which
// request on it, from 1), closing the connection after it when told to. It speaks
// bytes, not HTTP, so it can misbehave in any way a test needs.
type rawReplica struct {
	ln       net.Listener
	answer   func(conn, req int) (out []byte, closeAfter bool)
	conns    atomic.Int64
	requests atomic.Int64
	mu       sync.Mutex
	open     []net.Conn
	wg       sync.WaitGroup
}

func newRawReplica(t testing.TB, answer func(conn, req int) ([]byte, bool)) *rawReplica {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &rawReplica{ln: ln, answer: answer}
	r.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(r.conns.Add(1))
			r.mu.Lock()
			r.open = append(r.open, c)
			r.mu.Unlock()
			r.wg.Go(func() { r.serve(c, n) })
		}
	})
	t.Cleanup(r.close)
	return r
}

func (r *rawReplica) serve(c net.Conn, n int) {
	defer c.Close()
	br := bufio.NewReader(c)
	for i := 1; ; i++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		r.requests.Add(1)
		out, closeAfter := r.answer(n, i)
		if _, err := c.Write(out); err != nil || closeAfter {
			return
		}
	}
}

func (r *rawReplica) close() {
	r.ln.Close()
	r.mu.Lock()
	for _, c := range r.open {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func (r *rawReplica) url() string { return "http://" + r.ln.Addr().String() }

// always answers every request with out, keeping the connection open.
func always(out string) func(int, int) ([]byte, bool) {
	return func(int, int) ([]byte, bool) { return []byte(out), false }
}

const okAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"

// newTestH1 is an h1Client dialling loopback directly, closed at the test's end.
func newTestH1(t testing.TB) *h1Client {
	var d net.Dialer
	c := newH1Client(d.DialContext, maxIdlePerHost)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func do(t testing.TB, c http.RoundTripper, ctx context.Context, method, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url+"/kv/a", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.RoundTrip(req)
}

// getBody sends a GET and reads the whole answer.
func getBody(t *testing.T, c http.RoundTripper, url string) (*http.Response, string) {
	t.Helper()
	resp, err := do(t, c, context.Background(), http.MethodGet, url)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// A connection whose answer was read to its end carries the next request; so does
// one whose answer had no body (HEAD, 204) or ended with trailers.
func TestH1ReusesConnectionAfterWholeBody(t *testing.T) {
	for _, tc := range []struct{ name, method, answer, body string }{
		{"content-length", "GET", okAnswer, "hello"},
		{"chunked with trailers", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
			"5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n", "hello"},
		{"head", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", ""},
		{"no content", "GET", "HTTP/1.1 204 No Content\r\n\r\n", ""},
		{"informational answers first", "GET", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + okAnswer, "hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawReplica(t, always(tc.answer))
			c := newTestH1(t)
			for range 3 {
				resp, err := do(t, c, context.Background(), tc.method, srv.url())
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != tc.body || resp.StatusCode/100 != 2 {
					t.Fatalf("answer %d %q, %v; want 2xx %q", resp.StatusCode, b, err, tc.body)
				}
				if strings.Contains(tc.answer, "Trailer") && resp.Trailer.Get("X-Sum") != "42" {
					t.Errorf("trailer X-Sum = %q, want 42", resp.Trailer.Get("X-Sum"))
				}
			}
			if n := srv.conns.Load(); n != 1 {
				t.Errorf("3 requests used %d connections, want 1", n)
			}
		})
	}
}

// A connection is never reused unless its answer ended cleanly and completely: a body
// closed before its end, one cut short, one that ran until the connection closed, a
// Connection: close, bytes after the answer that nobody asked for, a 101.
func TestH1ClosesConnectionAfterIncompleteAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
		read         int64 // bytes of the body read before Close; -1: all
		closeAfter   bool  // the replica closes after answering
		wantErr      bool  // reading the body fails
	}{
		{name: "body closed early", answer: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", read: 3},
		{name: "body cut short", answer: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234", read: -1, closeAfter: true, wantErr: true},
		{name: "chunked cut short", answer: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", read: -1, closeAfter: true, wantErr: true},
		{name: "until close", answer: "HTTP/1.1 200 OK\r\n\r\nhello", read: -1, closeAfter: true},
		{name: "connection close", answer: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello", read: -1},
		{name: "http/1.0", answer: "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello", read: -1},
		{name: "pipelined garbage", answer: okAnswer + "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nWRONG", read: -1},
		{name: "switching protocols", answer: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n", read: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawReplica(t, func(conn, req int) ([]byte, bool) {
				if conn == 1 {
					return []byte(tc.answer), tc.closeAfter
				}
				return []byte(okAnswer), false
			})
			c := newTestH1(t)
			resp, err := do(t, c, context.Background(), http.MethodGet, srv.url())
			if err != nil {
				t.Fatal(err)
			}
			var rerr error
			if tc.read < 0 {
				_, rerr = io.ReadAll(resp.Body)
			} else {
				_, rerr = io.CopyN(io.Discard, resp.Body, tc.read)
			}
			resp.Body.Close()
			if (rerr != nil) != tc.wantErr {
				t.Errorf("reading the body: %v, want an error %v", rerr, tc.wantErr)
			}
			if n := c.idleCount(); n != 0 {
				t.Fatalf("%d connections idle after an incomplete answer, want 0", n)
			}
			// The next request gets a connection of its own and the right answer.
			if _, body := getBody(t, c, srv.url()); body != "hello" {
				t.Errorf("next answer %q, want hello", body)
			}
			if n := srv.conns.Load(); n != 2 {
				t.Errorf("%d connections, want 2: the first one was not to be reused", n)
			}
		})
	}
}

// Bytes that arrive on an idle connection (a replica answering nothing that was asked,
// or closing it) keep it from being reused: the next request goes on a new one.
func TestH1DiscardsIdleConnectionWithBytesWaiting(t *testing.T) {
	late := make(chan net.Conn, 1)
	srv := newRawReplica(t, func(conn, req int) ([]byte, bool) { return []byte(okAnswer), false })
	srv.answer = func(conn, req int) ([]byte, bool) {
		if conn == 1 {
			srv.mu.Lock()
			late <- srv.open[0]
			srv.mu.Unlock()
		}
		return []byte(okAnswer), false
	}
	c := newTestH1(t)
	getBody(t, c, srv.url())
	(<-late).Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nWRONG"))
	eventually(t, "the unsolicited bytes reach the client", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.idle) == 1 && !c.idle[0].alive()
	})
	if _, body := getBody(t, c, srv.url()); body != "hello" {
		t.Errorf("answer %q, want hello: the unsolicited answer was taken for it", body)
	}
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// A replica that closes an idle connection just as a request goes out (its idle
// timeout) costs nothing: a replayable request is sent again on a new connection, as
// net/http does. One that cannot be replayed fails.
func TestH1RetriesOnAConnectionTheReplicaClosed(t *testing.T) {
	srv := newRawReplica(t, func(conn, req int) ([]byte, bool) {
		if conn == 1 && req == 2 {
			return nil, true // read the request, close without an answer
		}
		return []byte(okAnswer), false
	})
	c := newTestH1(t)
	getBody(t, c, srv.url())
	if _, body := getBody(t, c, srv.url()); body != "hello" {
		t.Errorf("answer %q, want hello", body)
	}
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the closed one, then a new one)", n)
	}

	// A POST whose body cannot be had again is not replayed.
	srv2 := newRawReplica(t, func(conn, req int) ([]byte, bool) { return []byte(okAnswer), conn == 1 && req == 2 })
	srv2.answer = func(conn, req int) ([]byte, bool) {
		if conn == 1 && req == 2 {
			return nil, true
		}
		return []byte(okAnswer), false
	}
	getBody(t, c, srv2.url())
	req, _ := http.NewRequest(http.MethodPost, srv2.url()+"/kv/a", io.NopCloser(strings.NewReader("x")))
	if _, err := c.RoundTrip(req); err == nil {
		t.Error("a POST with a one-shot body was sent twice")
	}
	if n := srv2.requests.Load(); n != 2 {
		t.Errorf("the replica read %d requests, want 2", n)
	}
}

// Cancelling the request closes its connection whether it waits for the headers or
// reads the body, and the error says it was the context.
func TestH1CancelClosesConnection(t *testing.T) {
	stalled := make(chan struct{})
	srv := newRawReplica(t, func(conn, req int) ([]byte, bool) {
		if conn == 1 {
			<-stalled // never answers
			return nil, true
		}
		return []byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"), false
	})
	defer close(stalled)
	c := newTestH1(t)

	ctx, cancel := context.WithCancelCause(context.Background())
	errLostTest := errors.New("lost to another attempt")
	time.AfterFunc(20*time.Millisecond, func() { cancel(errLostTest) })
	_, err := do(t, c, ctx, http.MethodGet, srv.url())
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errLostTest) {
		t.Errorf("waiting for headers: error %v, want context.Canceled with its cause", err)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	resp, err := do(t, c, ctx2, http.MethodGet, srv.url())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(20*time.Millisecond, cancel2)
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("reading the body: error %v, want context.Canceled", err)
	}
	if n := c.idleCount(); n != 0 {
		t.Errorf("%d idle connections after cancels, want 0", n)
	}
}

// A replica's headers are bounded: one that sends more fails the request instead of
// growing the gateway's memory, 1xx answers counted in.
func TestH1BoundsHeaders(t *testing.T) {
	huge := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", maxResponseHeaderBytes) + "\r\nContent-Length: 0\r\n\r\n"
	// Fewer than maxInterimAnswers, so the byte limit is what stops them.
	many1xx := strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: "+strings.Repeat("b", 100_000)+"\r\n\r\n", maxResponseHeaderBytes/100_000+1) + okAnswer
	for name, answer := range map[string]string{"one huge header": huge, "endless 1xx": many1xx} {
		t.Run(name, func(t *testing.T) {
			srv := newRawReplica(t, always(answer))
			c := newTestH1(t)
			_, err := do(t, c, context.Background(), http.MethodGet, srv.url())
			if !errors.Is(err, errHeaderTooLarge) {
				t.Errorf("error %v, want %v", err, errHeaderTooLarge)
			}
		})
	}
}

// Idle connections close after idleTimeout, oldest first, whether a request finds
// them or the reaper does.
func TestH1IdleTimeout(t *testing.T) {
	srv := newRawReplica(t, always(okAnswer))
	c := newTestH1(t)
	clk := newFakeClock()
	c.now = clk.Now

	// Two connections idle, 10s apart.
	r1, err := do(t, c, context.Background(), http.MethodGet, srv.url())
	if err != nil {
		t.Fatal(err)
	}
	r2, err := do(t, c, context.Background(), http.MethodGet, srv.url())
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(r1.Body)
	r1.Body.Close()
	clk.Advance(10 * time.Second)
	io.ReadAll(r2.Body)
	r2.Body.Close()
	if n := c.idleCount(); n != 2 {
		t.Fatalf("%d idle, want 2", n)
	}
	clk.Advance(idleTimeout - 5*time.Second)
	c.reap()
	if n := c.idleCount(); n != 1 {
		t.Errorf("after the first one's idle timeout: %d idle, want 1", n)
	}
	clk.Advance(10 * time.Second)
	// Found by a request before the reaper: not used, a new connection is dialled.
	getBody(t, c, srv.url())
	if n := srv.conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3: an expired one was reused", n)
	}
}

// RoundTrip refuses what it cannot send without a byte on the wire.
func TestH1RefusesWhatItCannotSend(t *testing.T) {
	c := newTestH1(t)
	req, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1:1/", nil)
	if _, err := c.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "http://") {
		t.Errorf("https URL: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := do(t, c, ctx, http.MethodGet, "http://127.0.0.1:1"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if got := canonicalAddr("[::1]"); got != "[::1]:80" {
		t.Errorf("canonicalAddr([::1]) = %s", got)
	}
}

// BenchmarkH1RoundTrip is the client alone against a replica that answers from a
// byte string: the client's own allocations per request.
func BenchmarkH1RoundTrip(b *testing.B) {
	srv := newRawReplica(b, always(okAnswer))
	c := newTestH1(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := do(b, c, ctx, http.MethodGet, srv.url())
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
