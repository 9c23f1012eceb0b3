package replicas

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"

	"github.com/hedgegate/hedgegate/config"
)

// Resolver answers discovery's lookups. *net.Resolver implements it: a gateway uses
// net.DefaultResolver (the host's resolv.conf), tests one dialling a DNS server on
// loopback, or a fake.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
}

var _ Resolver = (*net.Resolver)(nil)

// How a lookup ended: the result label of hedgegate_discovery_refresh_total, so a
// short fixed list, never error text.
const (
	LookupOK = "ok"
	// LookupNotFound: the name does not exist (NXDOMAIN) or has no record of the type
	// asked: the resolver does not tell these apart.
	LookupNotFound = "not_found"
	// LookupEmpty: records came, but none names a usable member (an SRV target of ".",
	// which RFC 2782 reserves for "no such service here", port 0, address 0.0.0.0).
	LookupEmpty   = "empty"
	LookupTimeout = "timeout"
	// LookupError is any other failure: SERVFAIL, a refused query, a malformed answer,
	// more members than a set may have.
	LookupError = "error"
)

// LookupResults lists every result, so that each series can exist before it counts.
var LookupResults = []string{LookupOK, LookupNotFound, LookupEmpty, LookupTimeout, LookupError}

// errEmpty is an answer without a usable member.
var errEmpty = errors.New("the answer names no usable member")

// LookupResult names how Lookup ended, from its error.
func LookupResult(err error) string {
	var dnsErr *net.DNSError
	switch {
	case err == nil:
		return LookupOK
	case errors.Is(err, errEmpty):
		return LookupEmpty
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return LookupNotFound
	case errors.As(err, &dnsErr) && dnsErr.IsTimeout, errors.Is(err, context.DeadlineExceeded):
		return LookupTimeout
	}
	return LookupError
}

// Lookup resolves d once and returns its members as replicas of a set, sorted by
// name: {Name: "10.0.0.5:9101", URL: "http://10.0.0.5:9101"} (IPv6 as [fd00::5]:9101).
// A member is named by its address, so its histogram and stats follow the address
// across lookups, and its metrics series are bounded by the set's size.
//
// With dns, every A and AAAA record of the name is a member at the configured port.
// With srv, every SRV record is a member at each address of its target, at its port;
// priority and weight are ignored (every member serves; the picker weighs measured
// latency). A target that does not exist is skipped, any other failure to resolve
// one fails the lookup: a partial answer would shrink the set for a resolver's hiccup.
// An answer with no usable member is an error (LookupEmpty), so the caller keeps what
// it has; so is one with more than config.MaxDiscoveredMembers.
func Lookup(ctx context.Context, r Resolver, d *config.Discovery) ([]config.Replica, error) {
	var found []netip.AddrPort
	switch {
	case d.DNS != "":
		host, portText, err := net.SplitHostPort(d.DNS)
		if err != nil {
			return nil, err
		}
		port, err := strconv.ParseUint(portText, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("port %q: %w", portText, err)
		}
		addrs, err := r.LookupNetIP(ctx, family(d), host)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			found = append(found, netip.AddrPortFrom(a, uint16(port)))
		}
	case d.SRV != "":
		var err error
		if found, err = lookupSRV(ctx, r, d.SRV, family(d)); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("discovery names neither dns nor srv")
	}
	return members(d.Scheme, found)
}

// family is the resolver network of d's address records; a Discovery built in code
// with no Family reads as the default, both families.
func family(d *config.Discovery) string {
	if d.Family == "" {
		return config.DefaultDiscoveryFamily
	}
	return d.Family
}

// lookupSRV resolves name's SRV records and then, at once, each target's addresses.
func lookupSRV(ctx context.Context, r Resolver, name, network string) ([]netip.AddrPort, error) {
	_, records, err := r.LookupSRV(ctx, "", "", name)
	if err != nil {
		return nil, err
	}
	type target struct {
		host  string
		port  uint16
		addrs []netip.Addr
		err   error
	}
	var targets []*target
	for _, srv := range records {
		if srv.Target == "." || srv.Target == "" || srv.Port == 0 {
			continue // "decidedly not available at this domain" (RFC 2782)
		}
		targets = append(targets, &target{host: srv.Target, port: srv.Port})
	}
	if len(targets) > config.MaxDiscoveredMembers {
		return nil, fmt.Errorf("%d SRV records, more than the %d members a set may have", len(targets), config.MaxDiscoveredMembers)
	}
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Go(func() { t.addrs, t.err = r.LookupNetIP(ctx, network, t.host) })
	}
	wg.Wait()
	var found []netip.AddrPort
	for _, t := range targets {
		var dnsErr *net.DNSError
		switch {
		case errors.As(t.err, &dnsErr) && dnsErr.IsNotFound:
			continue // a record naming a host that is gone
		case t.err != nil:
			return nil, fmt.Errorf("SRV target %s: %w", t.host, t.err)
		}
		for _, a := range t.addrs {
			found = append(found, netip.AddrPortFrom(a, t.port))
		}
	}
	return found, nil
}

// members turns the addresses an answer gave into a set's members: each usable address
// once (IPv4-mapped IPv6 as IPv4), sorted by name. None is errEmpty; more than
// config.MaxDiscoveredMembers is an error.
func members(scheme string, found []netip.AddrPort) ([]config.Replica, error) {
	seen := make(map[netip.AddrPort]bool, len(found))
	var out []config.Replica
	for _, ap := range found {
		a := ap.Addr().Unmap().WithZone("")
		if !a.IsValid() || a.IsUnspecified() || ap.Port() == 0 {
			continue
		}
		ap = netip.AddrPortFrom(a, ap.Port())
		if seen[ap] {
			continue
		}
		seen[ap] = true
		name := ap.String()
		out = append(out, config.Replica{Name: name, URL: scheme + "://" + name})
	}
	switch {
	case len(out) == 0:
		return nil, errEmpty
	case len(out) > config.MaxDiscoveredMembers:
		return nil, fmt.Errorf("%d members, more than the %d a set may have", len(out), config.MaxDiscoveredMembers)
	}
	slices.SortFunc(out, func(a, b config.Replica) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}
