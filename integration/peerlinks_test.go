//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// peerLinks carries etcd's member-to-member traffic so a test can cut one member off
// from the others, in both directions, while it keeps serving its clients.
//
// Each member advertises the address of one of these proxies as its peer URL; the
// proxy forwards to the member's real peer listener. Disabling a member's proxy (what
// a plain TCP proxy such as Toxiproxy offers) is not a partition for etcd: rafthttp's
// message streams are dialled by the member that *receives* on them (a GET
// /raftstream/... that the other side answers with a never-ending body), so a member
// whose own proxy is off still dials its peers' proxies and keeps receiving the
// leader's appends. Measured: it served the new value. So the proxy reads the first
// request on each connection, takes the dialling member from the X-PeerURLs header
// rafthttp puts on every stream and pipeline request, and drops a link when either end
// is cut off. Connections without that header (rafthttp's probes) are kept unless the
// destination is cut off.
type peerLinks struct {
	listeners []net.Listener
	upstream  []string       // each member's real peer listener
	byURL     map[string]int // advertised peer URL → member

	mu    sync.Mutex
	cut   []bool
	conns map[net.Conn]link
	wg    sync.WaitGroup
}

type link struct{ src, dst int } // src -1: the dialler did not say who it is

// startPeerLinks listens on listenPorts[i] for member i and forwards to
// 127.0.0.1:peerPorts[i]. It is closed at cleanup.
func startPeerLinks(t *testing.T, listenPorts, peerPorts []int) *peerLinks {
	t.Helper()
	p := &peerLinks{byURL: map[string]int{}, cut: make([]bool, len(listenPorts)), conns: map[net.Conn]link{}}
	for i, port := range listenPorts {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			p.close()
			t.Fatalf("peer proxy for member %d: %v", i+1, err)
		}
		p.listeners = append(p.listeners, ln)
		p.upstream = append(p.upstream, fmt.Sprintf("127.0.0.1:%d", peerPorts[i]))
		p.byURL[fmt.Sprintf("http://127.0.0.1:%d", port)] = i
	}
	for i, ln := range p.listeners {
		p.wg.Go(func() { p.accept(i, ln) })
	}
	t.Cleanup(p.close)
	return p
}

// isolate cuts member m off from every other member: open links to and from it are
// closed, new ones are refused.
func (p *peerLinks) isolate(m int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut[m] = true
	for c, l := range p.conns {
		if l.src == m || l.dst == m {
			c.Close()
		}
	}
}

// heal lets member m's links be made again (its members redial on their own).
func (p *peerLinks) heal(m int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut[m] = false
}

func (p *peerLinks) close() {
	for _, ln := range p.listeners {
		ln.Close()
	}
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *peerLinks) accept(dst int, ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed
		}
		p.wg.Go(func() { p.forward(dst, c) })
	}
}

func (p *peerLinks) forward(dst int, c net.Conn) {
	defer c.Close()
	p.mu.Lock()
	refused := p.cut[dst]
	p.mu.Unlock()
	if refused {
		return
	}
	// The dialler's first request names it. Bounded: 5s and 64 KiB of headers.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReaderSize(c, 64<<10)
	head, err := peekHeader(br)
	if err != nil {
		return
	}
	c.SetReadDeadline(time.Time{})
	src := -1
	if u := headerValue(head, "X-PeerURLs"); u != "" {
		if m, ok := p.byURL[strings.TrimSpace(strings.Split(u, ",")[0])]; ok {
			src = m
		}
	}
	up, err := net.DialTimeout("tcp", p.upstream[dst], 2*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	if !p.track(link{src, dst}, c, up) {
		return
	}
	defer p.untrack(c, up)
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, br); up.Close(); done <- struct{}{} }()
	go func() { io.Copy(c, up); c.Close(); done <- struct{}{} }()
	<-done
	<-done
}

// track registers a link's two connections unless one of its ends is cut off, under
// the same lock isolate takes, so no link slips through a cut.
func (p *peerLinks) track(l link, conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut[l.dst] || (l.src >= 0 && p.cut[l.src]) {
		return false
	}
	for _, c := range conns {
		p.conns[c] = l
	}
	return true
}

func (p *peerLinks) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		delete(p.conns, c)
	}
}

// peekHeader returns the request line and headers of the first request without
// consuming them: they are forwarded as they came.
func peekHeader(br *bufio.Reader) ([]byte, error) {
	for n := 1; n <= br.Size(); n++ {
		b, err := br.Peek(n)
		if err != nil {
			return nil, err
		}
		if bytes.HasSuffix(b, []byte("\r\n\r\n")) {
			return b, nil
		}
	}
	return nil, fmt.Errorf("no end of headers in %d bytes", br.Size())
}

func headerValue(head []byte, name string) string {
	for _, line := range strings.Split(string(head), "\r\n")[1:] {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
