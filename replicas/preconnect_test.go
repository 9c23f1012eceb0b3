package replicas

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// peer is a loopback listener that accepts connections and either echoes what they
// send or closes each at once, as a replica with a short idle timeout would.
type peer struct {
	ln       net.Listener
	closeNow bool
	mu       sync.Mutex
	conns    []net.Conn
	wg       sync.WaitGroup
}

func newPeer(t *testing.T, closeNow bool) *peer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{ln: ln, closeNow: closeNow}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.closeNow {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			p.wg.Go(func() { io.Copy(c, c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *peer) addr() string { return p.ln.Addr().String() }

// countingDial dials loopback and counts the dials; fail makes the next ones fail and
// block makes them wait for their context.
type countingDial struct {
	n         atomic.Int64
	fail      atomic.Bool
	block     atomic.Bool
	cancelled atomic.Bool // a blocked dial ended by cancellation, not its timeout
}

func (d *countingDial) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.n.Add(1)
	if d.block.Load() {
		<-ctx.Done()
		d.cancelled.Store(errors.Is(ctx.Err(), context.Canceled))
		return nil, ctx.Err()
	}
	if d.fail.Load() {
		return nil, errors.New("refused")
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

// newTestPreconnector returns a peer, a fake clock, and a preconnector dialling the
// peer through a countingDial on that clock, closed at the test's end.
func newTestPreconnector(t *testing.T, closeNow bool) (*peer, *fakeClock, *countingDial, *preconnector) {
	t.Helper()
	srv := newPeer(t, closeNow)
	clk := newFakeClock()
	d := &countingDial{}
	p := newPreconnector(d.dial, time.Second, clk.Now)
	t.Cleanup(p.Close)
	return srv, clk, d, p
}

// eventually polls cond every 10ms for at most 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i == 500 {
			t.Fatalf("after 5s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// isClosed reports whether c was closed on this side.
func isClosed(c net.Conn) bool {
	_, err := c.Write([]byte("x"))
	return errors.Is(err, net.ErrClosed)
}

// spareOf returns p's spare after its background dial, if any, has finished.
func spareOf(p *preconnector) net.Conn {
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.spare
}

// dialInUse dials through p and writes, as a request would; its answer is not read.
func dialInUse(t *testing.T, p *preconnector, addr string) net.Conn {
	t.Helper()
	c, err := p.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	return c
}

// readAnswer reads the echo of dialInUse's request: the request is answered.
func readAnswer(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := io.ReadFull(c, make([]byte, len("GET / HTTP/1.1\r\n"))); err != nil {
		t.Fatal(err)
	}
}

func TestPreconnectReplacesConnectionClosedInUse(t *testing.T) {
	srv, clk, d, p := newTestPreconnector(t, false)

	c := dialInUse(t, p, srv.addr())
	clk.Advance(activeWithin / 2)
	c.Close() // as net/http does to cancel a request in flight
	spare := spareOf(p)
	if spare == nil || d.n.Load() != 2 {
		t.Fatalf("after a close in use: spare %v, %d dials; want a spare from a second dial", spare, d.n.Load())
	}
	c2 := dialInUse(t, p, srv.addr())
	defer c2.Close()
	if d.n.Load() != 2 {
		t.Errorf("the next dial dialled again (%d dials): the spare was not used", d.n.Load())
	}
	if c2.(*trackedConn).Conn != spare {
		t.Error("the next dial did not return the spare")
	}
	c.Close() // a second Close of one connection must not dial again
	if spareOf(p) != nil || d.n.Load() != 2 {
		t.Errorf("a repeated Close dialled: %d dials", d.n.Load())
	}
}

func TestPreconnectIgnoresIdleClose(t *testing.T) {
	srv, clk, d, p := newTestPreconnector(t, false)

	c := dialInUse(t, p, srv.addr())
	readAnswer(t, c)
	clk.Advance(activeWithin) // net/http's IdleConnTimeout, CloseIdleConnections
	c.Close()
	if spareOf(p) != nil || d.n.Load() != 1 {
		t.Errorf("an idle connection's close was replaced: %d dials", d.n.Load())
	}
}

// A loser cancelled long after it was sent (a hung replica, a long route timeout) was
// still in use: its answer never came.
func TestPreconnectReplacesSlowLoser(t *testing.T) {
	srv, clk, d, p := newTestPreconnector(t, false)

	c := dialInUse(t, p, srv.addr())
	readAnswer(t, c)
	clk.Advance(time.Minute)
	if _, err := c.Write([]byte("next")); err != nil { // a second request, unanswered
		t.Fatal(err)
	}
	clk.Advance(5 * activeWithin)
	c.Close()
	if spareOf(p) == nil || d.n.Load() != 2 {
		t.Errorf("a connection closed with its request unanswered was not replaced: %d dials", d.n.Load())
	}
}

// An unused spare is closed after spareMaxAge of real time, not kept until a dial.
func TestPreconnectClosesUnusedSpare(t *testing.T) {
	srv := newPeer(t, false)
	var d countingDial
	p := newPreconnector(d.dial, time.Second, time.Now)
	defer p.Close()

	dialInUse(t, p, srv.addr()).Close()
	spare := spareOf(p)
	if spare == nil {
		t.Fatal("no spare")
	}
	for i := 0; ; i++ {
		p.mu.Lock()
		gone := p.spare == nil
		p.mu.Unlock()
		if gone {
			break
		}
		if i == 100 {
			t.Fatal("spare still held 12s after it was made")
		}
		time.Sleep(spareMaxAge/20 + 20*time.Millisecond)
	}
	if !isClosed(spare) {
		t.Error("the expired spare was not closed")
	}
}

// A background dial that completes while Close runs hands its connection to nobody
// and closes it.
func TestPreconnectDialEndingDuringCloseIsClosed(t *testing.T) {
	srv := newPeer(t, false)
	var d countingDial
	p := newPreconnector(d.dial, time.Second, time.Now)
	first := dialInUse(t, p, srv.addr())
	// From here on, dials ignore cancellation and wait for release.
	release := make(chan struct{})
	var late net.Conn
	p.dial = func(_ context.Context, network, addr string) (net.Conn, error) {
		<-release
		var nd net.Dialer
		c, err := nd.DialContext(context.Background(), network, addr)
		late = c
		return c, err
	}
	first.Close()
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	eventually(t, "Close did not mark the preconnector closed", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.closed
	})
	close(release)
	<-closed
	if late == nil {
		t.Fatal("the background dial did not run")
	}
	if !isClosed(late) {
		t.Error("a dial that ended during Close left its connection open")
	}
}

func TestPreconnectDiscardsSpareTheReplicaClosed(t *testing.T) {
	srv, _, d, p := newTestPreconnector(t, true)

	dialInUse(t, p, srv.addr()).Close()
	spare := spareOf(p)
	if spare == nil {
		t.Fatal("no spare")
	}
	// The replica closes it; wait for its FIN, bounded.
	eventually(t, "spare still looks open after the replica closed it", func() bool { return !alive(spare) })
	c := dialInUse(t, p, srv.addr())
	defer c.Close()
	if d.n.Load() != 3 || c.(*trackedConn).Conn == spare {
		t.Errorf("a spare the replica had closed was handed out (%d dials)", d.n.Load())
	}
}

func TestAlive(t *testing.T) {
	srv := newPeer(t, false)
	c, err := net.Dial("tcp", srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !alive(c) {
		t.Error("a fresh open connection is not alive")
	}
	// Bytes the replica sent unasked also make a connection unusable for a request.
	a, b := tcpPair(t)
	defer a.Close()
	defer b.Close()
	if _, err := b.Write([]byte("HTTP/1.1 408 Request Timeout\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	for i := 0; alive(a); i++ {
		if i == 500 {
			t.Fatal("a connection with unread bytes still looks alive after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	return client, server
}

func TestPreconnectFailedDialLeavesNoSpare(t *testing.T) {
	srv, _, d, p := newTestPreconnector(t, false)

	c := dialInUse(t, p, srv.addr())
	d.fail.Store(true)
	c.Close()
	if spareOf(p) != nil || d.n.Load() != 2 {
		t.Errorf("after a failed background dial: %d dials", d.n.Load())
	}
	// Nothing retries on its own: a replica that refuses gets no dial loop.
	time.Sleep(10 * time.Millisecond)
	if d.n.Load() != 2 {
		t.Errorf("dials went on after a failure: %d", d.n.Load())
	}
}

func TestPreconnectOneDialAtATime(t *testing.T) {
	srv := newPeer(t, false)
	clk := newFakeClock()
	var d countingDial
	p := newPreconnector(d.dial, time.Hour, clk.Now) // only Close can end a blocked dial

	a := dialInUse(t, p, srv.addr())
	b := dialInUse(t, p, srv.addr())
	d.block.Store(true)
	a.Close()
	b.Close() // while the first replacement is still dialling
	if d.n.Load() > 3 {
		t.Errorf("%d dials for two closes while one was dialling, want at most 3", d.n.Load())
	}
	p.Close() // cancels the blocked dial and waits for it
	if n := d.n.Load(); n != 3 || !d.cancelled.Load() {
		t.Errorf("Close: %d dials, background dial cancelled %v; want 3 and true", n, d.cancelled.Load())
	}
}

func TestPreconnectStopsOnClose(t *testing.T) {
	srv, _, d, p := newTestPreconnector(t, false)

	dialInUse(t, p, srv.addr()).Close()
	spare := spareOf(p)
	if spare == nil {
		t.Fatal("no spare")
	}
	c := dialInUse(t, p, srv.addr()) // takes the spare
	dialInUse(t, p, srv.addr()).Close()
	spare = spareOf(p)
	p.Close()
	if !isClosed(spare) {
		t.Error("Close left the spare open")
	}
	before := d.n.Load()
	c.Close() // in use, after Close: no replacement
	if spareOf(p) != nil || d.n.Load() != before {
		t.Errorf("a close after Close dialled (%d → %d dials)", before, d.n.Load())
	}
	// The pool still dials for requests.
	c = dialInUse(t, p, srv.addr())
	c.Close()
}

// A spare is for a pool left with no idle connection: beside an idle one, a close in
// use dials nothing, since the next request takes the idle connection.
func TestPreconnectNoSpareWhileAConnectionIsIdle(t *testing.T) {
	srv, _, d, p := newTestPreconnector(t, false)

	a := dialInUse(t, p, srv.addr())
	b := dialInUse(t, p, srv.addr())
	readAnswer(t, b) // answered: idle in the pool
	a.Close()
	if spareOf(p) != nil || d.n.Load() != 2 {
		t.Fatalf("a close in use beside an idle connection dialled a spare (%d dials)", d.n.Load())
	}
	c := dialInUse(t, p, srv.addr())
	if _, err := b.Write([]byte("GET / HTTP/1.1\r\n")); err != nil { // b busy again
		t.Fatal(err)
	}
	c.Close()
	if spareOf(p) == nil || d.n.Load() != 4 {
		t.Errorf("a close in use with every other connection busy: %d dials, want a spare (4)", d.n.Load())
	}
	b.Close()
	if open, busy := p.open.Load(), p.busy.Load(); open != 0 || busy != 0 {
		t.Errorf("after every connection closed: open %d, busy %d; want 0 and 0", open, busy)
	}
}
