// Package dnstest runs an authoritative DNS server on loopback for tests, as
// net/http/httptest runs an HTTP one: a zone the test edits while the server runs
// (A, AAAA and SRV records), failure modes to switch on (SERVFAIL, no answer at all),
// and a *net.Resolver that sends every query to it. The gateway's own resolver code,
// net's, is what the tests exercise; the server is codeberg.org/miekg/dns.
package dnstest

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"
	"codeberg.org/miekg/dns/rdata"
)

// Mode is how the server answers.
type Mode int32

const (
	// Answer serves the zone: its records, NXDOMAIN for a name it does not have.
	Answer Mode = iota
	// ServFail answers every query SERVFAIL.
	ServFail
	// Silent reads queries and never answers: the resolver times out.
	Silent
)

// SRV is one SRV record's data.
type SRV struct {
	Target           string // a name, with or without the trailing dot
	Port             uint16
	Priority, Weight uint16
}

// Server is a DNS server on 127.0.0.1, UDP and TCP, each on a port of its own.
type Server struct {
	UDPAddr, TCPAddr string

	mode    atomic.Int32
	queries atomic.Int64

	mu   sync.Mutex
	addr map[string][]netip.Addr // A and AAAA, by fully qualified lower-case name
	srv  map[string][]SRV

	stops []func()
}

// Start runs a server with an empty zone until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{addr: map[string][]netip.Addr{}, srv: map[string][]SRV{}}
	for _, network := range []string{"udp", "tcp"} {
		srv := dns.NewServer()
		srv.Addr, srv.Net, srv.Handler = "127.0.0.1:0", network, dns.HandlerFunc(s.serve)
		started := make(chan struct{})
		srv.NotifyStartedFunc = func(context.Context) { close(started) }
		failed := make(chan error, 1)
		go func() {
			if err := srv.ListenAndServe(); err != nil {
				failed <- err
			}
		}()
		select {
		case <-started:
		case err := <-failed:
			s.Close()
			t.Fatalf("dnstest: %s server: %v", network, err)
		}
		if network == "udp" {
			s.UDPAddr = srv.PacketConn.LocalAddr().String()
		} else {
			s.TCPAddr = srv.Listener.Addr().String()
		}
		s.stops = append(s.stops, func() { srv.Shutdown(context.Background()) })
	}
	t.Cleanup(s.Close)
	return s
}

// Close stops the server.
func (s *Server) Close() {
	for _, stop := range s.stops {
		stop()
	}
	s.stops = nil
}

// Resolver sends every query to s, whatever nameserver the host's resolv.conf names.
// Use fully qualified names (a trailing dot) so no search domain is tried first.
//
// A query whose lookup was cancelled ends at once: net's resolver goes on reading an
// abandoned query until resolv.conf's timeout (5s by default), past the end of a test
// that goleak checks.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		addr := s.UDPAddr
		if strings.HasPrefix(network, "tcp") {
			addr = s.TCPAddr
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
		return c, nil
	}}
}

// SetAddrs makes addrs the A and AAAA records of name (none: the name has no address
// records, but exists if it has others).
func (s *Server) SetAddrs(name string, addrs ...netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addr[fqdn(name)] = addrs
}

// SetSRV makes records the SRV records of name.
func (s *Server) SetSRV(name string, records ...SRV) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv[fqdn(name)] = records
}

// Remove takes name out of the zone: queries for it get NXDOMAIN.
func (s *Server) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.addr, fqdn(name))
	delete(s.srv, fqdn(name))
}

// SetMode switches how the server answers from now on.
func (s *Server) SetMode(m Mode) { s.mode.Store(int32(m)) }

// Queries counts the queries received.
func (s *Server) Queries() int64 { return s.queries.Load() }

func fqdn(name string) string { return dnsutil.Fqdn(strings.ToLower(name)) }

func (s *Server) serve(_ context.Context, w dns.ResponseWriter, r *dns.Msg) {
	s.queries.Add(1)
	if r.Unpack() != nil || len(r.Question) != 1 {
		return
	}
	mode := Mode(s.mode.Load())
	if mode == Silent {
		return
	}
	m := dnsutil.SetReply(new(dns.Msg), r)
	// Authoritative, so that an answer without records is NODATA to net's resolver,
	// not a lame referral.
	m.Authoritative, m.RecursionAvailable = true, true
	if mode == ServFail {
		m.Rcode = dns.RcodeServerFailure
	} else {
		name, qtype := dnsutil.Question(r)
		m.Answer, m.Rcode = s.answer(strings.ToLower(name), qtype)
	}
	if m.Pack() == nil {
		m.WriteTo(w)
	}
}

// answer is the zone's records of name and qtype, and the rcode.
func (s *Server) answer(name string, qtype uint16) ([]dns.RR, uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	addrs, hasAddr := s.addr[name]
	srvs, hasSRV := s.srv[name]
	if !hasAddr && !hasSRV {
		return nil, dns.RcodeNameError
	}
	hdr := dns.Header{Name: name, Class: dns.ClassINET, TTL: 5}
	var rrs []dns.RR
	switch qtype {
	case dns.TypeA, dns.TypeAAAA:
		for _, a := range addrs {
			switch {
			case a.Is4() && qtype == dns.TypeA:
				rrs = append(rrs, &dns.A{Hdr: hdr, A: rdata.A{Addr: a}})
			case a.Is6() && qtype == dns.TypeAAAA:
				rrs = append(rrs, &dns.AAAA{Hdr: hdr, AAAA: rdata.AAAA{Addr: a}})
			}
		}
	case dns.TypeSRV:
		for _, r := range srvs {
			rrs = append(rrs, &dns.SRV{Hdr: hdr, SRV: rdata.SRV{Priority: r.Priority, Weight: r.Weight,
				Port: r.Port, Target: dnsutil.Fqdn(r.Target)}})
		}
	}
	return rrs, dns.RcodeSuccess
}
