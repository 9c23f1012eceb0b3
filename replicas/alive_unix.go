//go:build unix && !aix

package replicas

import (
	"errors"
	"net"
	"syscall"
)

// alive reports whether an unused connection is still open: no bytes and no EOF are
// waiting on it. A replica that closed it while it waited as a spare would otherwise
// fail the request sent on it, and net/http does not retry on a new connection.
func alive(c net.Conn) bool { return newPeeker(c).alive() }

// peeker asks one connection alive's question as often as needed without allocating:
// an idle connection is checked before every reuse.
type peeker struct {
	raw  syscall.RawConn // nil: not a socket, nothing to ask
	peek func(fd uintptr) bool
	open bool
	buf  [1]byte
}

func newPeeker(c net.Conn) *peeker {
	p := &peeker{}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			p.raw = raw
		}
	}
	p.peek = func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read is the healthy case; data or EOF on a connection that sent
		// no request means the replica is done with it.
		p.open = errors.Is(rerr, syscall.EAGAIN)
		return true
	}
	return p
}

func (p *peeker) alive() bool {
	if p.raw == nil {
		return true
	}
	p.open = false
	err := p.raw.Read(p.peek)
	return err == nil && p.open
}

// headWaiting says whether the bytes waiting on c, unread, hold the end of an answer's
// header block (the first headPeekBytes of them; bare-LF lines too), without reading
// them. A byte or two of a head still coming is not enough: a replica trickling its
// headers keeps a byte waiting most of the time, and must not hold its own hedge.
//
// Unlike alive it may run while another goroutine is blocked reading c:
// RawConn.Control holds the descriptor open but takes no read lock, where RawConn.Read
// would wait behind that reader until it returned.
func headWaiting(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	buf := make([]byte, headPeekBytes) // its own: two goroutines may ask of one connection at once
	n := 0
	err = raw.Control(func(fd uintptr) {
		m, _, rerr := syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if rerr == nil {
			n = m
		}
	})
	return err == nil && endsHead(buf[:n])
}
