//go:build !unix || aix

package replicas

import "net"

// alive cannot peek at a socket here; spareMaxAge alone bounds a spare, and an idle
// connection's reuse relies on the retry of a request that found it closed.
func alive(net.Conn) bool { return true }

type peeker struct{}

func newPeeker(net.Conn) *peeker { return &peeker{} }

func (*peeker) alive() bool { return true }

// headWaiting cannot peek here: no answer is ever said to be waiting.
func headWaiting(net.Conn) bool { return false }
