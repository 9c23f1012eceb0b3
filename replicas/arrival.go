package replicas

import (
	"bytes"
	"context"
	"sync"
)

// Arrival lets whoever sent a request ask, while its answer's headers are awaited,
// whether the replica has already answered and the answer's head waits on the
// connection, unread, to its end. Then the replica is not slow: the gateway is, behind on its own work (a
// saturated core), and a hedge sent now could not beat an answer already here. It
// would only add load to a gateway that is short of CPU, and, when the first answer
// is taken, cost the loser its HTTP/1.1 connection.
//
// A transport that can tell (hedgegate's own HTTP/1.1 client) finds the Arrival on
// the request's context (ArrivalFrom) and calls Await with a probe once the request
// is written, and Await(nil) once the headers are read. Through any other transport
// Waiting is always false, which is what a hedge did before it asked.
type Arrival struct {
	mu    sync.Mutex
	probe AnswerProbe
}

// AnswerProbe says whether an answer's head waits unread, whole, on a connection. It must not block
// or read: the request's own goroutine does, perhaps at the same moment.
type AnswerProbe interface {
	AnswerWaiting() bool
}

type arrivalKey struct{}

// WithArrival returns ctx carrying a: a request sent with it reports to a.
func WithArrival(ctx context.Context, a *Arrival) context.Context {
	return context.WithValue(ctx, arrivalKey{}, a)
}

// ArrivalFrom is the Arrival ctx carries, or nil. Await and Waiting take a nil one.
func ArrivalFrom(ctx context.Context) *Arrival {
	a, _ := ctx.Value(arrivalKey{}).(*Arrival)
	return a
}

// Await marks the answer as awaited on p's connection, or no longer (nil).
func (a *Arrival) Await(p AnswerProbe) {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.probe = p
	a.mu.Unlock()
}

// Waiting says whether the awaited answer's head is waiting, unread, to its end. Safe to call
// from any goroutine while the request runs; it never blocks.
func (a *Arrival) Waiting() bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	p := a.probe
	a.mu.Unlock()
	return p != nil && p.AnswerWaiting()
}

// headPeekBytes is how much of what waits AnswerWaiting looks through for the end of
// the answer's headers: a head longer than that is not seen waiting, and its hedge
// goes at its delay, as before.
const headPeekBytes = 2 << 10

// endsHead says whether b holds the blank line that ends a header block.
func endsHead(b []byte) bool {
	return bytes.Contains(b, []byte("\n\r\n")) || bytes.Contains(b, []byte("\n\n"))
}

// AnswerWaiting peeks at the connection's socket for a whole answer head. It may run on a connection already
// serving another request (an Arrival's caller loaded it just as this one's headers
// were read): then it speaks of that request's answer, at worst holding one hedge of
// a request whose answer has just been read, which ends at once anyway.
func (pc *h1Conn) AnswerWaiting() bool { return headWaiting(pc.raw) }
