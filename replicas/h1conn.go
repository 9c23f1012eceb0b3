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
	"net/textproto"
	"sync"
	"sync/atomic"
	"time"
)

// h1Conn is one connection of an h1Client. Only one request uses it at a time: the
// goroutine that sent it reads the headers, whoever holds the body reads the rest,
// and the connection goes back to the pool (or closes) when the body ends.
type h1Conn struct {
	client *h1Client
	conn   net.Conn // as dialled: a trackedConn when the pool keeps spares
	raw    net.Conn // the TCP connection under it, for alive
	peek   *peeker  // made on its first reuse
	addr   string   // host:port dialled
	in     connReader
	br     *bufio.Reader
	out    connWriter

	idleAt   time.Time // when it last went idle
	reused   bool      // taken from the idle pool for the current request
	received int64     // bytes of the current answer read off the connection
	closed   atomic.Bool
}

func newH1Conn(c *h1Client, nc net.Conn, addr string) *h1Conn {
	pc := &h1Conn{client: c, conn: nc, raw: nc, addr: addr}
	if t, ok := nc.(*trackedConn); ok {
		pc.raw = t.Conn
	}
	pc.in = connReader{pc: pc, limit: -1}
	pc.out = connWriter{conn: nc}
	pc.br = bufio.NewReaderSize(&pc.in, bufSize)
	return pc
}

// alive says whether the idle connection may carry a request: nothing (bytes or EOF)
// is waiting on it.
func (pc *h1Conn) alive() bool {
	if pc.peek == nil {
		pc.peek = newPeeker(pc.raw)
	}
	return pc.peek.alive()
}

// errHeaderTooLarge: the replica sent more than maxResponseHeaderBytes before its
// answer's body.
var errHeaderTooLarge = fmt.Errorf("replica's answer headers exceed %d bytes", maxResponseHeaderBytes)

// connReader is what the connection's bufio.Reader reads from: the connection,
// counting the bytes of the current answer and, while the headers are read, bounding
// them.
type connReader struct {
	pc    *h1Conn
	limit int64 // bytes still allowed; -1: no limit (the body is bounded by its framing)
	// head keeps what was read while the headers were (limit >= 0): see
	// restoreConnection.
	head []byte
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.limit == 0 {
		return 0, errHeaderTooLarge
	}
	if r.limit > 0 && int64(len(p)) > r.limit {
		p = p[:r.limit]
	}
	n, err := r.pc.conn.Read(p)
	r.pc.received += int64(n)
	if r.limit > 0 {
		r.limit -= int64(n)
		r.head = append(r.head, p[:n]...)
	}
	return n, err
}

// connWriter is what the request is written to: the connection, keeping the first
// write error. Request.Write wraps a failed body write as a body read error that
// unwraps to nothing, so a reset while the body is written would read as no reset.
type connWriter struct {
	conn net.Conn
	err  error
}

func (w *connWriter) Write(p []byte) (int, error) {
	n, err := w.conn.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// concurrentBodyBytes: a request body larger than this is written beside the read of
// the answer, not before it. A replica may answer before it has read a large body (a
// 413, or an answer that does not need it) and stop reading; written first, the body
// would block, once the socket buffers are full, until the deadline, the answer
// unread. Smaller bodies fit the buffers and cost no goroutine.
const concurrentBodyBytes = 64 << 10

// writeSettleWait is how long a write still going when the answer has ended may go
// on before the connection is closed under it: a replica that answered early may
// still read the body (a close with the body unsent would cut it short, and RST what
// it had not read yet). net/http's Transport waits 50 ms too. A variable for tests.
var writeSettleWait = 50 * time.Millisecond

// writeFailGrace is how long the answer is still awaited after the body's write
// failed: a replica that answered and closed has its answer in the socket already.
const writeFailGrace = 100 * time.Millisecond

// roundTrip writes req and reads the answer's headers. Until the body ends, the
// request's context closes the connection when it is done.
func (pc *h1Conn) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	pc.received = 0
	stop := context.AfterFunc(ctx, pc.close)

	var w *bodyWriter
	if req.ContentLength > concurrentBodyBytes {
		w = pc.writeBeside(req)
	} else if err := pc.writeRequest(req); err != nil {
		return nil, pc.fail(ctx, stop, err)
	}

	arrival := ArrivalFrom(ctx)
	arrival.Await(pc)
	resp, err := pc.readResponse(req)
	arrival.Await(nil)
	sentWhole := true
	if w != nil {
		switch ended, werr := w.headRead(); {
		case ended && werr != nil:
			sentWhole = false
			if err != nil {
				err = werr // the write failed first: that is why no answer came
			}
		case !ended:
			sentWhole = false
			if err != nil {
				pc.close()
				w.wait()
			}
		}
	}
	if err != nil {
		return nil, pc.fail(ctx, stop, err)
	}
	// 101: the connection now speaks another protocol; it is of no more use here. An
	// answer that came before the request was all sent leaves the replica
	// mid-request: no other request may follow on the connection. The body goes on
	// being written (a full-duplex replica reads it while it answers) until the
	// answer ends.
	keep := sentWhole && !resp.Close && !req.Close && resp.StatusCode != http.StatusSwitchingProtocols
	if w != nil {
		// A replica that says close is done with the request: its answer is not
		// held back for the body's sake.
		w.linger = !resp.Close
	}
	if resp.Body == http.NoBody {
		// HEAD, 204, 304, 1xx, or Content-Length: 0: the answer is whole already.
		pc.release(stop, keep, w)
		return resp, nil
	}
	resp.Body = &h1Body{pc: pc, body: resp.Body, stop: stop, ctx: ctx, keep: keep, writer: w}
	return resp, nil
}

// bodyWriter writes a request on a goroutine of its own, beside the read of its
// answer (concurrentBodyBytes).
type bodyWriter struct {
	pc     *h1Conn
	done   chan error
	linger bool // settle waits: the replica kept the connection, so may read on
	mu     sync.Mutex
	head   bool // the answer's head was read: a failed write no longer bounds the read
}

func (pc *h1Conn) writeBeside(req *http.Request) *bodyWriter {
	w := &bodyWriter{pc: pc, done: make(chan error, 1)}
	go func() {
		err := pc.writeRequest(req)
		// Under the lock, so that headRead, once it has marked the head read, either
		// finds the write ended (and clears a grace set) or knows none will be set.
		w.mu.Lock()
		if err != nil && !w.head {
			pc.conn.SetReadDeadline(time.Now().Add(writeFailGrace))
		}
		w.done <- err // buffered: never blocks
		w.mu.Unlock()
	}()
	return w
}

// headRead is called once the answer's head was read (or failed): whether the write
// has ended, and its error; a write not ended goes on.
func (w *bodyWriter) headRead() (bool, error) {
	w.mu.Lock()
	w.head = true
	w.mu.Unlock()
	select {
	case err := <-w.done:
		w.done = nil
		if err != nil {
			w.pc.conn.SetReadDeadline(time.Time{}) // the grace is no bound on the body
		}
		return true, err
	default:
		return false, nil
	}
}

// settle gives a writer still going up to writeSettleWait to end, when it lingers.
// The wait is the caller's: the answer's end (or, without a body, the answer) is
// handed over after it.
func (w *bodyWriter) settle() {
	if w == nil || w.done == nil || !w.linger {
		return
	}
	t := time.NewTimer(writeSettleWait)
	defer t.Stop()
	select {
	case <-w.done:
		w.done = nil
	case <-t.C:
	}
}

// wait waits for the writer to end; the connection must be closed first, or the
// write may block until the replica reads. A nil writer, or one already waited
// for, returns at once.
func (w *bodyWriter) wait() {
	if w == nil || w.done == nil {
		return
	}
	<-w.done
	w.done = nil
}

// writeRequest writes req to the connection; a write error is the connection's own.
func (pc *h1Conn) writeRequest(req *http.Request) error {
	pc.out.err = nil
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(&pc.out)
	err := writeRequest(bw, req)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	writers.Put(bw)
	if err != nil && pc.out.err != nil {
		return pc.out.err
	}
	return err
}

// readResponse reads the final answer's status line and headers, skipping up to
// maxInterimAnswers 1xx informational answers (101 is final), all within
// maxResponseHeaderBytes.
func (pc *h1Conn) readResponse(req *http.Request) (*http.Response, error) {
	pc.in.limit = maxResponseHeaderBytes
	pc.in.head = pc.in.head[:0]
	defer func() {
		pc.in.limit = -1
		if cap(pc.in.head) > keptHeadBytes {
			pc.in.head = nil
		}
	}()
	for interim := 0; ; interim++ {
		resp, err := http.ReadResponse(pc.br, req)
		if err != nil {
			return nil, err
		}
		switch code := resp.StatusCode; {
		case code < 100:
			return nil, fmt.Errorf("replica answered status %d, not an HTTP status", code)
		case code < 200 && code != http.StatusSwitchingProtocols:
			if interim == maxInterimAnswers {
				return nil, errTooManyInterim
			}
			// Keep only what is not parsed yet: the next answer starts there.
			unread := pc.in.head[len(pc.in.head)-pc.br.Buffered():]
			pc.in.head = append(pc.in.head[:0], unread...)
			continue
		}
		restoreConnection(resp, pc.in.head)
		return resp, nil
	}
}

// maxInterimAnswers bounds the 1xx answers skipped before the final one: a real
// server sends one or two (100 Continue, 103 Early Hints), and each costs a parse, so a
// replica streaming them inside the header limit would burn a core for nothing.
const maxInterimAnswers = 16

var errTooManyInterim = fmt.Errorf("replica sent more than %d informational (1xx) answers", maxInterimAnswers)

// keptHeadBytes is the most a connection keeps of the buffer for its answers' heads
// between requests; a larger one, grown by a rare large head, is let go.
const keptHeadBytes = 16 << 10

// restoreConnection puts back the Connection header http.ReadResponse deletes from
// an HTTP/1.1 answer that says close. Without it the headers that Connection names
// hop-by-hop (Connection: X-Secret, close) would pass on to the client as if they
// were the answer's own: net/http's Transport, and so httputil.ReverseProxy, leak them
// that way. head holds the bytes read from the final answer's status line on (those of
// 1xx answers before it are dropped as each is parsed); it is parsed again only in
// that rare case.
func restoreConnection(resp *http.Response, head []byte) {
	if !resp.Close || !resp.ProtoAtLeast(1, 1) || resp.Header["Connection"] != nil {
		return
	}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
	if _, err := tp.ReadLine(); err != nil {
		return
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return
	}
	if vv := h["Connection"]; vv != nil {
		resp.Header["Connection"] = vv
	}
}

// fail closes the connection of a request that failed before its answer's body and
// says why: the context's reason when it ended, else err.
func (pc *h1Conn) fail(ctx context.Context, stop func() bool, err error) error {
	stop()
	pc.close()
	if ctx.Err() != nil {
		return ctxError(ctx)
	}
	if errors.Is(err, errHeaderTooLarge) {
		return errHeaderTooLarge
	}
	return err
}

// release ends the connection's request: back to the idle pool when it may carry
// another (keep), the context did not close it meanwhile (stop), and nothing was
// read beyond the answer (bytes there are no answer to anything sent); else closed.
// A writer still sending the request (w, when the answer came first; such a
// connection is never kept) is given writeSettleWait to end, then stopped by the
// close and waited for, so no goroutine outlives the request.
func (pc *h1Conn) release(stop func() bool, keep bool, w *bodyWriter) {
	w.settle()
	if stop() && keep && pc.br.Buffered() == 0 {
		pc.client.putIdle(pc)
		return
	}
	pc.close()
	w.wait()
}

// close closes the connection once. It is also the context's AfterFunc: closing
// interrupts a write or read in progress on another goroutine.
func (pc *h1Conn) close() {
	if !pc.closed.Swap(true) {
		pc.conn.Close()
	}
}

// errBodyClosed is what Read returns after Close, as net/http's body does.
var errBodyClosed = errors.New("http: read on closed response body")

// h1Body is an answer's body read straight off its connection. Read to io.EOF, it
// releases the connection; closed or failed before that, it closes the connection,
// so a connection is never reused with an answer left unread on it. Read and Close
// may be called from different goroutines.
type h1Body struct {
	pc   *h1Conn
	body io.ReadCloser // the standard library's framing (Content-Length, chunked)
	stop func() bool   // disarms the context's close
	ctx  context.Context
	keep bool
	// writer is still writing the request (an answer that came before the body
	// was all sent): see release.
	writer *bodyWriter

	mu     sync.Mutex
	ended  bool  // read to its end, failed or closed: the connection is released
	err    error // what Read returns once ended
	closed bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	ended, err := b.ended, b.err
	b.mu.Unlock()
	if ended {
		return 0, err
	}
	n, err := b.body.Read(p)
	switch {
	case err == io.EOF:
		b.end(true, io.EOF)
	case err != nil:
		if b.ctx.Err() != nil {
			err = ctxError(b.ctx)
		}
		b.end(false, err)
	}
	return n, err
}

// Close closes the connection unless the body was read to its end. It does not
// drain: whoever wants the connection kept reads the body first.
func (b *h1Body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.end(false, errBodyClosed)
	return nil
}

// end settles the connection once: released when the body was read whole.
func (b *h1Body) end(whole bool, err error) {
	b.mu.Lock()
	if b.ended {
		if b.closed {
			b.err = errBodyClosed
		}
		b.mu.Unlock()
		return
	}
	b.ended, b.err = true, err
	b.mu.Unlock()
	b.pc.release(b.stop, whole && b.keep, b.writer)
}
