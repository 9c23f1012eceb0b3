//go:build unix && !aix

package replicas

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"
)

// loopbackPair is a connected client and server over 127.0.0.1.
func loopbackPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// peekLen is how many bytes wait unread on c (up to 4 KiB), without reading them.
func peekLen(t *testing.T, c net.Conn) int {
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4<<10)
	n := 0
	raw.Control(func(fd uintptr) {
		if m, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT); err == nil {
			n = m
		}
	})
	return n
}

// Waiting sees an answer's head the replica sent and nobody has read, once it is
// there to its end, leaves its bytes where they are, and says nothing once the answer
// is no longer awaited.
func TestArrivalSeesAnAnswerWaitingUnread(t *testing.T) {
	client, server := loopbackPair(t)
	pc := newH1Conn(nil, client, "replica")
	var a Arrival
	if a.Waiting() {
		t.Fatal("waiting before anything was awaited")
	}
	a.Await(pc)
	if a.Waiting() {
		t.Fatal("waiting before the replica sent anything")
	}
	// A head still coming (a replica trickling it) is not an answer waiting.
	const partial = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	io.WriteString(server, partial)
	eventually(t, "the partial head arrives", func() bool { return peekLen(t, client) == len(partial) })
	if a.Waiting() {
		t.Fatal("waiting on a head that has not ended")
	}
	io.WriteString(server, "\r\nhello")
	eventually(t, "the whole answer shows as waiting", a.Waiting)
	got := make([]byte, len(okAnswer))
	if _, err := io.ReadFull(client, got); err != nil || string(got) != okAnswer {
		t.Fatalf("read %q, %v after the peeks: want the whole answer %q", got, err, okAnswer)
	}
	if a.Waiting() {
		t.Error("still waiting once the answer was read")
	}
	a.Await(nil)
	io.WriteString(server, okAnswer)
	eventually(t, "a second answer arrives", func() bool { return headWaiting(client) })
	if a.Waiting() {
		t.Error("waiting on a connection no longer awaited")
	}
}

func TestEndsHead(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", false},
		{"H", false},
		{"HTTP/1.1 200 OK\r\nA: b\r\n", false},
		{"HTTP/1.1 200 OK\r\nA: b\r\n\r\n", true},
		{"\r\n\r\nhello", true}, // the head's end, its start already read
		{"HTTP/1.1 200 OK\nA: b\n\n", true},
		{"HTTP/1.1 200 OK\r\n\r", false},
	} {
		if got := endsHead([]byte(tc.in)); got != tc.want {
			t.Errorf("endsHead(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// Waiting is asked from the engine's goroutine while the request's own goroutine is
// blocked reading the same connection: it must answer at once, not queue behind that
// read (RawConn.Read would, holding the descriptor's read lock).
func TestArrivalDoesNotWaitBehindABlockedReader(t *testing.T) {
	client, server := loopbackPair(t)
	var a Arrival
	a.Await(newH1Conn(nil, client, "replica"))
	read := make(chan string)
	go func() {
		b := make([]byte, 1)
		n, _ := client.Read(b)
		read <- string(b[:n])
	}()
	asked := make(chan bool)
	go func() { asked <- a.Waiting() }()
	select {
	case w := <-asked:
		if w {
			t.Error("waiting with nothing sent")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Waiting blocked behind the reader")
	}
	io.WriteString(server, "y")
	if got := <-read; got != "y" {
		t.Errorf("reader got %q, want y", got)
	}
}

// hedgegate's client reports the answer awaited on its connection from the moment
// the request is written until the headers are read.
func TestH1ClientAwaitsTheAnswerOnItsConnection(t *testing.T) {
	release := make(chan struct{})
	r := newRawReplica(t, func(int, int) ([]byte, bool) {
		<-release
		return []byte(okAnswer), false
	})
	// Cleanups run last first: the replica is let go before it is closed, so a
	// failing test ends instead of waiting on it.
	released := sync.OnceFunc(func() { close(release) })
	t.Cleanup(released)
	c := newTestH1(t)
	var a Arrival
	awaited := func() AnswerProbe {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.probe
	}
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := do(t, c, WithArrival(context.Background(), &a), http.MethodGet, r.url())
		done <- result{resp, err}
	}()
	eventually(t, "the answer is awaited while the replica holds it", func() bool { return awaited() != nil })
	if _, ok := awaited().(*h1Conn); !ok {
		t.Fatalf("awaiting %T once the request was written, want its connection", awaited())
	}
	released()
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	io.Copy(io.Discard, res.resp.Body)
	res.resp.Body.Close()
	if p := awaited(); p != nil {
		t.Errorf("still awaiting %T after the headers were read", p)
	}
}
