package config

import (
	"encoding/json"
	"net/url"
	"strings"
)

// RedactURL returns s with the password of its userinfo replaced by "xxxxx", as
// url.URL.Redacted does, also for a string url.Parse refuses: a replica URL's
// credentials never reach /debug/config, a log or an error message.
func RedactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	// Unparsable: cut the userinfo by hand, up to the last "@" before the path.
	rest, scheme := s, ""
	if i := strings.Index(s, "://"); i >= 0 {
		scheme, rest = s[:i+3], s[i+3:]
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return s
	}
	user := authority[:at]
	if i := strings.Index(user, ":"); i >= 0 {
		user = user[:i] + ":xxxxx"
	}
	return scheme + user + rest[at:]
}

// MarshalJSON writes r with its URL's password redacted: JSON is how the config is
// shown (/debug/config). YAML marshalling keeps the URL whole, since it writes a
// config that is meant to be read back.
func (r Replica) MarshalJSON() ([]byte, error) {
	type plain Replica
	p := plain(r)
	p.URL = RedactURL(p.URL)
	return json.Marshal(p)
}
