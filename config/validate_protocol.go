package config

import (
	"net/url"
	"strings"
)

// protocol checks a replica set's protocol and client.
func (v *validator) protocol(p string, rs *ReplicaSet) {
	switch rs.Protocol {
	case ProtocolHTTP1, ProtocolH2C, ProtocolH2:
	default:
		v.add(p+".protocol", "unknown protocol %q (want %s, %s or %s)", rs.Protocol, ProtocolHTTP1, ProtocolH2C, ProtocolH2)
	}
	switch rs.Client {
	case ClientAuto, ClientNetHTTP:
	case ClientHedgegate:
		if rs.Protocol == ProtocolH2C || rs.Protocol == ProtocolH2 {
			v.add(p+".client", "hedgegate's client speaks HTTP/1.1 only; protocol %s goes through net/http (client: %s)", rs.Protocol, ClientAuto)
		}
	default:
		v.add(p+".client", "unknown client %q (want %s, %s or %s)", rs.Client, ClientAuto, ClientHedgegate, ClientNetHTTP)
	}
	// A discovery set's members get URLs of discovery.scheme.
	if d := rs.Discovery; d != nil && (d.Scheme == "http" || d.Scheme == "https") {
		if msg := SchemeProblem(d.Scheme, rs.Protocol, rs.Client); msg != "" {
			v.add(p+".discovery.scheme", "%s", msg)
		}
	}
}

// schemeForProtocol says what is wrong with a replica URL (already checked by
// checkURL) for its set's protocol and client, or "".
func schemeForProtocol(raw string, rs *ReplicaSet) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return SchemeProblem(strings.ToLower(u.Scheme), rs.Protocol, rs.Client)
}

// SchemeProblem says why a replica whose URL has scheme (http or https) cannot be
// reached with protocol and client, or "" when it can. Empty protocol and client are
// their defaults.
func SchemeProblem(scheme, protocol, client string) string {
	switch {
	case protocol == ProtocolH2C && scheme != "http":
		return "protocol h2c is HTTP/2 without TLS: want an http:// URL (h2 is HTTP/2 over TLS)"
	case protocol == ProtocolH2 && scheme != "https":
		return "protocol h2 negotiates HTTP/2 by ALPN over TLS: want an https:// URL (h2c is HTTP/2 without TLS)"
	case client == ClientHedgegate && scheme != "http":
		return "client hedgegate has no TLS: https replicas go through net/http (client: auto)"
	}
	return ""
}
