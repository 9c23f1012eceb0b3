package server

import (
	"net"
	"net/http"
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

// addForwarded appends the client's address to X-Forwarded-For and records the host
// and scheme the client used, so replicas can log and build links as usual.
func addForwarded(out http.Header, in *http.Request) {
	if ip, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		if prior := out.Values("X-Forwarded-For"); len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		out.Set("X-Forwarded-For", ip)
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

// copyHeader adds every value of src to dst.
func copyHeader(dst, src http.Header) {
	for k, vv := range src {
		for _, v := range vv {
			dst.Add(k, v)
		}
	}
}
