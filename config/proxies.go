package config

import (
	"fmt"
	"net/netip"
)

// ParsePrefix reads one trusted_proxies entry: a CIDR such as 10.0.0.0/8 or
// fd00::/8, or a single address (a /32 or /128).
func ParsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (10.0.0.0/8) or an IP address", s)
}

// TrustedPrefixes returns trusted_proxies parsed; entries that do not parse (a
// config that was not validated) are left out, so they trust nothing.
func (c *Config) TrustedPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(c.TrustedProxies))
	for _, s := range c.TrustedProxies {
		if p, err := ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}
