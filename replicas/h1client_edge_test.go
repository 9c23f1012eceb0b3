package replicas

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// A cancelled attempt closes its own connection and no other: the connection of an
// attempt that finished stays idle and carries the next request.
func TestH1CancelClosesOnlyItsOwnConnection(t *testing.T) {
	srv := newRawReplica(t, func(conn, req int) ([]byte, bool) {
		if conn == 1 {
			return []byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"), false
		}
		return []byte(okAnswer), false
	})
	c := newTestH1(t)
	ctx, cancel := context.WithCancel(context.Background())
	loser, err := do(t, c, ctx, http.MethodGet, srv.url())
	if err != nil {
		t.Fatal(err)
	}
	// The winner, on a second connection while the loser's body is still open.
	if _, body := getBody(t, c, srv.url()); body != "hello" {
		t.Fatalf("winner's answer %q", body)
	}
	cancel()
	if _, err := io.ReadAll(loser.Body); !errors.Is(err, context.Canceled) {
		t.Errorf("the loser's body: %v, want context.Canceled", err)
	}
	loser.Body.Close()
	if n := c.idleCount(); n != 1 {
		t.Fatalf("%d idle after the cancel, want the winner's 1", n)
	}
	for range 3 {
		if _, body := getBody(t, c, srv.url()); body != "hello" {
			t.Fatalf("answer %q", body)
		}
	}
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2: the cancel closed the winner's too", n)
	}
}

// An attempt's deadline ends it like a cancel: DeadlineExceeded, its connection
// closed, never pooled.
func TestH1DeadlineWhileWaitingForHeaders(t *testing.T) {
	stalled := make(chan struct{})
	srv := newRawReplica(t, func(conn, req int) ([]byte, bool) {
		if conn == 1 {
			<-stalled
			return nil, true
		}
		return []byte(okAnswer), false
	})
	defer close(stalled)
	c := newTestH1(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := do(t, c, ctx, http.MethodGet, srv.url()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want context.DeadlineExceeded", err)
	}
	if n := c.idleCount(); n != 0 {
		t.Errorf("%d idle, want 0", n)
	}
	if _, body := getBody(t, c, srv.url()); body != "hello" {
		t.Errorf("next answer %q, want hello", body)
	}
}

// Whatever a replica sends as its first answer (then closing the connection), the
// client neither panics nor hangs, and the next request gets its own, right answer:
// no byte of a broken or surplus answer is taken for the next one.
func FuzzH1Answer(f *testing.F) {
	for _, seed := range []string{
		okAnswer,
		okAnswer + okAnswer,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/1.1 099 Odd\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
		"garbage\r\n\r\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, first []byte) {
		srv := newRawReplica(t, func(conn, req int) ([]byte, bool) {
			if conn == 1 && req == 1 {
				return first, true
			}
			return []byte(okAnswer), false
		})
		c := newTestH1(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if resp, err := do(t, c, ctx, http.MethodGet, srv.url()); err == nil {
			if resp.StatusCode < 100 || resp.StatusCode > 999 {
				t.Errorf("status %d accepted", resp.StatusCode)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if ctx.Err() != nil {
			t.Fatal("the first answer hung the client")
		}
		resp, err := do(t, c, ctx, http.MethodGet, srv.url())
		if err != nil {
			t.Fatalf("second request: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(b, []byte("hello")) {
			t.Errorf("second answer %q, %v; want hello", b, err)
		}
	})
}

// http.ReadResponse deletes an HTTP/1.1 answer's Connection header when it says
// close; the client puts it back, or the headers it names hop-by-hop would pass on.
func TestH1KeepsTheConnectionHeaderOfAClosingAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
		want         []string
	}{
		{"final", "HTTP/1.1 200 OK\r\nConnection: X-Secret, close\r\nX-Secret: s\r\nContent-Length: 2\r\n\r\nok", []string{"X-Secret, close"}},
		{"after a 1xx", "HTTP/1.1 100 Continue\r\nConnection: X-Early\r\n\r\nHTTP/1.1 200 OK\r\nconnection: close\r\nConnection: X-Secret\r\nX-Secret: s\r\nContent-Length: 2\r\n\r\nok", []string{"close", "X-Secret"}},
		{"keep-alive", "HTTP/1.1 200 OK\r\nConnection: X-Secret\r\nX-Secret: s\r\nContent-Length: 2\r\n\r\nok", []string{"X-Secret"}},
		{"only a close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", []string{"close"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawReplica(t, func(conn, req int) ([]byte, bool) { return []byte(tc.answer), true })
			resp, body := getBody(t, newTestH1(t), srv.url())
			if body != "ok" {
				t.Fatalf("body %q", body)
			}
			if got := resp.Header["Connection"]; !slices.Equal(got, tc.want) {
				t.Errorf("Connection = %q, want %q", got, tc.want)
			}
		})
	}
}

// A replica that streams 1xx answers is cut off after maxInterimAnswers of them
// rather than parsed for as long as the header limit lasts.
func TestH1BoundsInformationalAnswers(t *testing.T) {
	const interim = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
	for _, n := range []int{maxInterimAnswers, maxInterimAnswers + 1} {
		srv := newRawReplica(t, func(conn, req int) ([]byte, bool) {
			return []byte(strings.Repeat(interim, n) + okAnswer), true
		})
		resp, err := do(t, newTestH1(t), context.Background(), http.MethodGet, srv.url())
		if n <= maxInterimAnswers {
			if err != nil {
				t.Fatalf("%d 1xx answers: %v", n, err)
			}
			resp.Body.Close()
			continue
		}
		if !errors.Is(err, errTooManyInterim) {
			t.Errorf("%d 1xx answers: got %v, want %v", n, err, errTooManyInterim)
		}
	}
}
