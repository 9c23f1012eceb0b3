package server

import (
	"net/http"
	"net/netip"
	"strings"
)

// hopHeaders belong to one connection, not to the request, so a proxy must not pass
// them on (RFC 9110 §7.6.1). The list is net/http/httputil's.
var hopHeaders = []string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// removeHopHeaders deletes hop-by-hop headers, including any the Connection header names.
func removeHopHeaders(h http.Header) {
	for _, v := range h.Values("Connection") {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

// forwardingHeaders are what a client may send to say who it is or how it connected.
// From a peer outside trusted_proxies every one of them is removed (and the whole
// X-Forwarded- family with them); the gateway then sets X-Forwarded-For, -Proto and
// -Host from what it saw itself.
var forwardingHeaders = []string{"Forwarded", "X-Real-Ip"}

const forwardedPrefix = "X-Forwarded-"

// addForwarded sets the X-Forwarded-* headers of out, the copy of in sent to replicas.
// A trusted peer (a load balancer in trusted_proxies) is believed: what it sent stays,
// its own address is appended to X-Forwarded-For, and Proto and Host are set only when
// it sent none. Anyone else is not: X-Forwarded-For is its address alone, Proto the
// scheme it used, Host the Host it asked for.
func addForwarded(out http.Header, in *http.Request, trusted []netip.Prefix) {
	peer, ok := peerAddr(in.RemoteAddr)
	if !ok || !isTrusted(peer, trusted) {
		for name := range out {
			if strings.HasPrefix(name, forwardedPrefix) {
				delete(out, name)
			}
		}
		for _, name := range forwardingHeaders {
			out.Del(name)
		}
	}
	if ok {
		xff := peer.String()
		if prior := out.Values("X-Forwarded-For"); len(prior) > 0 {
			xff = strings.Join(prior, ", ") + ", " + xff
		}
		out.Set("X-Forwarded-For", xff)
	}
	if out.Get("X-Forwarded-Host") == "" && in.Host != "" {
		out.Set("X-Forwarded-Host", in.Host)
	}
	if out.Get("X-Forwarded-Proto") == "" {
		proto := "http"
		if in.TLS != nil {
			proto = "https"
		}
		out.Set("X-Forwarded-Proto", proto)
	}
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

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// copyEndToEnd adds to dst every value of src but its hop-by-hop headers (those of
// hopHeaders and those its Connection header names), leaving what dst already holds,
// such as the Connection: close of a drain, alone.
func copyEndToEnd(dst, src http.Header) {
	named := map[string]bool{}
	for _, v := range src.Values("Connection") {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				named[http.CanonicalHeaderKey(name)] = true
			}
		}
	}
	for k, vv := range src {
		if named[k] || isHopHeader(k) {
			continue
		}
		for _, v := range vv {
			dst.Add(k, v)
		}
	}
}

func isHopHeader(name string) bool {
	for _, h := range hopHeaders {
		if h == name {
			return true
		}
	}
	return false
}
