package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// discovery checks a replica set's discovery section (the set has no replicas list).
func (v *validator) discovery(p string, d *Discovery) {
	switch {
	case d.DNS != "" && d.SRV != "":
		v.add(p, "set dns or srv, not both")
	case d.DNS != "":
		v.discoveryDNS(p+".dns", d.DNS)
	case d.SRV != "":
		v.discoverySRV(p+".srv", d.SRV)
	default:
		v.add(p, "needs dns (NAME:PORT: A and AAAA records) or srv (_service._tcp.NAME: SRV records)")
	}
	if d.Refresh < Duration(MinDiscoveryRefresh) {
		v.add(p+".refresh", "must be at least %s, got %s", MinDiscoveryRefresh, d.Refresh)
	}
	if d.Scheme != "http" && d.Scheme != "https" {
		v.add(p+".scheme", "%q: want http or https", d.Scheme)
	}
	if d.Family != "ip" && d.Family != "ip4" && d.Family != "ip6" {
		v.add(p+".family", "%q: want ip (A and AAAA records), ip4 (A) or ip6 (AAAA)", d.Family)
	}
}

func (v *validator) discoveryDNS(p, name string) {
	host, port, err := net.SplitHostPort(name)
	if err != nil {
		v.add(p, "%q: want NAME:PORT, such as kv.default.svc.cluster.local:9101", name)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		v.add(p, "%q: port %q is not a number in 1-65535", name, port)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		v.add(p, "%q is an address, not a name to resolve: list it under replicas", name)
		return
	}
	if msg := checkDNSName(host); msg != "" {
		v.add(p, "%q: %s", name, msg)
	}
}

func (v *validator) discoverySRV(p, name string) {
	labels := strings.SplitN(strings.TrimSuffix(name, "."), ".", 3)
	if len(labels) < 3 || len(labels[0]) < 2 || labels[0][0] != '_' || !strings.EqualFold(labels[1], "_tcp") {
		v.add(p, "%q: want _service._tcp.NAME (RFC 2782), such as _http._tcp.kv.default.svc.cluster.local", name)
		return
	}
	if msg := checkDNSName(name); msg != "" {
		v.add(p, "%q: %s", name, msg)
	}
}

// checkDNSName checks the syntax of a name to resolve (RFC 1035, with underscores for
// SRV's service labels): at most 253 characters without the root's trailing dot,
// labels of 1 to 63 letters, digits, hyphens and underscores.
func checkDNSName(name string) string {
	name = strings.TrimSuffix(name, ".")
	switch {
	case name == "":
		return "the name is empty"
	case len(name) > 253:
		return "longer than 253 characters"
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return "each dot-separated label must have 1 to 63 characters"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "a DNS name has only letters, digits, hyphens and underscores between its dots"
			}
		}
	}
	return ""
}
