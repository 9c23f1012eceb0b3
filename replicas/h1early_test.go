package replicas

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// earlyReplica reads each request's head and then does what act says with the
// connection (body: the rest of what it sends), reading no body itself; it counts
// the connections it accepted.
type earlyReplica struct {
	ln    net.Listener
	conns atomic.Int32
	done  chan struct{}
	wg    sync.WaitGroup
}

func newEarlyReplica(t *testing.T, act func(n int, c *net.TCPConn, body io.Reader, done <-chan struct{})) *earlyReplica {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &earlyReplica{ln: ln, done: make(chan struct{})}
	r.wg.Go(func() {
		for range 8 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(r.conns.Add(1))
			r.wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						break
					}
				}
				act(n, c.(*net.TCPConn), br, r.done)
			})
		}
	})
	t.Cleanup(func() {
		close(r.done)
		ln.Close()
		r.wg.Wait()
	})
	return r
}

func (r *earlyReplica) url() string { return "http://" + r.ln.Addr().String() }

func postBody(t *testing.T, c http.RoundTripper, url string, size int) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/kv/a", bytes.NewReader(bytes.Repeat([]byte("x"), size)))
	if err != nil {
		t.Fatal(err)
	}
	return c.RoundTrip(req)
}

// TestH1AnswerBeforeTheBodyIsRead: a replica that answers a large request before
// reading its body, and then reads no more, has its answer taken; the connection,
// left mid-request, is not reused. Before, the body was written first: once the
// socket buffers were full the write blocked, the answer unread, until the deadline.
func TestH1AnswerBeforeTheBodyIsRead(t *testing.T) {
	rep := newEarlyReplica(t, func(n int, c *net.TCPConn, _ io.Reader, done <-chan struct{}) {
		if n == 1 {
			io.WriteString(c, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 4\r\n\r\nbig!")
			<-done // never reads again
			return
		}
		io.WriteString(c, okAnswer)
	})
	c := newTestH1(t)
	resp, err := postBody(t, c, rep.url(), 8<<20)
	if err != nil {
		t.Fatalf("8 MiB body to a replica that answered at once: %v; want its 413", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || string(b) != "big!" || err != nil {
		t.Errorf("got %d %q (%v), want 413 \"big!\"", resp.StatusCode, b, err)
	}
	if _, body := getBody(t, c, rep.url()); body != "hello" || rep.conns.Load() != 2 {
		t.Errorf("next request: %q on connection %d; want hello on a new connection", body, rep.conns.Load())
	}
}

// TestH1ResetWhileTheBodyIsWritten: a replica that resets the connection while the
// body is written fails the attempt as a reset (retried under retry.on: [reset]).
// Before, Request.Write's wrapping of the write error hid it for the large body: the
// attempt failed as "other" and was not retried. The small body is written whole
// into the socket buffers before the reset, which the read then reports: the path
// without a writer goroutine must say reset too.
func TestH1ResetWhileTheBodyIsWritten(t *testing.T) {
	for _, size := range []int{8 << 20, concurrentBodyBytes / 2} {
		rep := newEarlyReplica(t, func(_ int, c *net.TCPConn, _ io.Reader, _ <-chan struct{}) {
			c.SetLinger(0) // close with RST
		})
		_, err := postBody(t, newTestH1(t), rep.url(), size)
		resetLike := errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
			errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if !resetLike {
			t.Errorf("%d-byte body, replica reset: %v (%T); want an error that is a reset", size, err, err)
		}
	}
}

// TestH1FullDuplexReplica: a replica that sends its answer's head at once, then reads
// the whole body, then sends the rest of its answer (a streaming transform, a Go
// server with EnableFullDuplex) gets the whole body: an early head does not stop the
// write. A first fix for early answers stopped it there, and such a replica waited
// for the rest of the body until the deadline.
func TestH1FullDuplexReplica(t *testing.T) {
	const size = 4 << 20
	rep := newEarlyReplica(t, func(_ int, c *net.TCPConn, body io.Reader, _ <-chan struct{}) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
		n, _ := io.CopyN(io.Discard, body, size)
		got := strconv.FormatInt(n, 10)
		fmt.Fprintf(c, "%x\r\n%s\r\n0\r\n\r\n", len(got), got)
	})
	resp, err := postBody(t, newTestH1(t), rep.url(), size)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != strconv.Itoa(size) {
		t.Errorf("answer %q (%v); want the replica to have read all %d bytes", b, err, size)
	}
}

// TestH1EarlyWholeAnswerStillSendsTheBody: a replica that sends its whole answer at
// once and then reads the body gets all of it when it reads on in time: the
// connection is not closed under the write the moment the answer ends. Before, the
// close cut the body short (the replica read 36–176 KB of 1 MiB) with a 200 at the
// client. writeSettleWait is raised so a loaded host cannot make this flaky.
func TestH1EarlyWholeAnswerStillSendsTheBody(t *testing.T) {
	defer func(d time.Duration) { writeSettleWait = d }(writeSettleWait)
	writeSettleWait = 5 * time.Second
	const size = 4 << 20
	read := make(chan int64, 1)
	rep := newEarlyReplica(t, func(_ int, c *net.TCPConn, body io.Reader, _ <-chan struct{}) {
		io.WriteString(c, okAnswer)
		n, _ := io.CopyN(io.Discard, body, size)
		read <- n
	})
	resp, err := postBody(t, newTestH1(t), rep.url(), size)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "hello" {
		t.Errorf("answer %q (%v), want hello", b, err)
	}
	resp.Body.Close()
	select {
	case n := <-read:
		if n != size {
			t.Errorf("the replica read %d of the %d bytes sent", n, size)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the replica never finished reading")
	}
}

// TestH1EarlyClosingAnswerIsNotHeld: an early answer that says Connection: close is
// handed over at once, not held for the body's write to settle (the replica is done
// with the request). Before, its end waited writeSettleWait (50 ms): on a hedge
// route that sent a second attempt, the whole body again. Here the wait is an hour
// and the replica never reads: held, the answer would never end.
func TestH1EarlyClosingAnswerIsNotHeld(t *testing.T) {
	defer func(d time.Duration) { writeSettleWait = d }(writeSettleWait)
	writeSettleWait = time.Hour
	rep := newEarlyReplica(t, func(_ int, c *net.TCPConn, _ io.Reader, done <-chan struct{}) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello")
		<-done // never reads
	})
	req, err := http.NewRequest(http.MethodPost, rep.url()+"/kv/a", bytes.NewReader(bytes.Repeat([]byte("x"), 8<<20)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := newTestH1(t).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	read := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		read <- string(b)
	}()
	select {
	case b := <-read:
		if b != "hello" {
			t.Errorf("answer %q, want hello", b)
		}
	case <-time.After(10 * time.Second): // a bound on a hang
		t.Fatal("the closing answer's end was held for the body's write")
	}
}
