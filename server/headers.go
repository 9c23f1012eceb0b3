package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Header names below are written in canonical form and looked up in the map directly:
// http.Header's Get, Set and Del canonicalize their argument on every call, which was
// 8% of the gateway's instructions per proxied request (callgrind) for names that are
// constants. A request's and an answer's keys are canonical already: net/http's
// parsers store them so.

// isHopHeader reports whether name (canonical) belongs to one connection, not to the
// request, so a proxy must not pass it on (RFC 9110 §7.6.1). The list is
// net/http/httputil's.
func isHopHeader(name string) bool {
	switch name {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// connectionNamed is the set of header names (canonical) h's Connection header
// declares hop-by-hop; nil when it names none, as it almost never does.
func connectionNamed(h http.Header) map[string]bool {
	var named map[string]bool
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				if named == nil {
					named = map[string]bool{}
				}
				named[http.CanonicalHeaderKey(name)] = true
			}
		}
	}
	return named
}

// isForwardingHeader: name is one a client may send to say who it is or how it
// connected (Forwarded, X-Real-Ip, the X-Forwarded- family). From a peer outside
// trusted_proxies every one is removed; the gateway then sets X-Forwarded-For, -Proto
// and -Host from what it saw itself. Look-alikes with underscores (X_Forwarded_For)
// count too: CGI, WSGI, PHP and Rack read both spellings as HTTP_X_FORWARDED_FOR.
func isForwardingHeader(name string) bool {
	if strings.IndexByte(name, '_') >= 0 {
		name = http.CanonicalHeaderKey(strings.ReplaceAll(name, "_", "-"))
	}
	return name == "Forwarded" || name == "X-Real-Ip" || strings.HasPrefix(name, forwardedPrefix)
}

const forwardedPrefix = "X-Forwarded-"

// forwardHeaders is the header sent to replicas for the client's request in: its
// end-to-end headers but X-Request-Timeout (the gateway's own), and X-Forwarded-* as
// the trust model says. A trusted peer (a load balancer in trusted_proxies) is
// believed: what it sent stays, its own address is appended to X-Forwarded-For, and
// Proto and Host are set only when it sent none. Anyone else is not: X-Forwarded-For
// is its address alone, Proto the scheme it used, Host the Host it asked for.
//
// The values are in's own slices, capped so that an append copies: attempts read the
// header and never change it (a RoundTripper may not), and in's is not changed either.
func forwardHeaders(in *http.Request, trusted []netip.Prefix) http.Header {
	peer, ok := peerAddr(in.RemoteAddr)
	believe := ok && isTrusted(peer, trusted)
	named := connectionNamed(in.Header)
	out := make(http.Header, len(in.Header)+3)
	for k, vv := range in.Header {
		if isHopHeader(k) || named[k] || k == RequestTimeoutHeader || (!believe && isForwardingHeader(k)) {
			continue
		}
		out[k] = vv[:len(vv):len(vv)]
	}
	if ok {
		xff := peerText(in.RemoteAddr, peer)
		if prior := out["X-Forwarded-For"]; len(prior) > 0 {
			xff = strings.Join(prior, ", ") + ", " + xff
		}
		out["X-Forwarded-For"] = []string{xff}
	}
	if first(out, "X-Forwarded-Host") == "" && in.Host != "" {
		out["X-Forwarded-Host"] = []string{in.Host}
	}
	if first(out, "X-Forwarded-Proto") == "" {
		out["X-Forwarded-Proto"] = protoHTTP
		if in.TLS != nil {
			out["X-Forwarded-Proto"] = protoHTTPS
		}
	}
	return out
}

// The X-Forwarded-Proto values, shared by every request: len == cap, so an append
// to a header's values copies them, and nothing writes into a header's slice.
var (
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
)

// first is h's first value for the canonical key, as Header.Get without canonicalizing.
func first(h http.Header, key string) string {
	if vv := h[key]; len(vv) > 0 {
		return vv[0]
	}
	return ""
}

// peerAddr is the address of the connection's other end, IPv4-mapped IPv6 unmapped
// so that 10.0.0.0/8 matches ::ffff:10.1.2.3.
func peerAddr(remote string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// peerText is peer as text: for IPv4 the host part of remote itself, which is the
// same text without an allocation per request.
func peerText(remote string, peer netip.Addr) string {
	if peer.Is4() {
		if host, _, err := net.SplitHostPort(remote); err == nil && !strings.ContainsAny(host, ":%") {
			return host
		}
	}
	return peer.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// copyEndToEnd adds to dst every value of src but its hop-by-hop headers (the fixed
// ones and those its Connection header names), leaving what dst already holds, such
// as the Connection: close of a drain, alone. A key dst does not hold gets src's
// values slice, capped so that a later Add copies it: src is the decided answer's,
// read by nothing after this.
func copyEndToEnd(dst, src http.Header) {
	named := connectionNamed(src)
	for k, vv := range src {
		if isHopHeader(k) || named[k] {
			continue
		}
		if prior, ok := dst[k]; ok {
			dst[k] = append(prior, vv...)
		} else {
			dst[k] = vv[:len(vv):len(vv)]
		}
	}
}
