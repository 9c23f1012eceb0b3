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
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read is the healthy case; data or EOF on a connection that sent
		// no request means the replica is done with it.
		open = errors.Is(rerr, syscall.EAGAIN)
		return true
	})
	return err == nil && open
}
