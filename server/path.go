package server

import (
	"net/url"
	"strings"
)

// The path rule (docs/config.md, "Paths"), as Envoy's normalize_path: true,
// merge_slashes: true and path_with_escaped_slashes_action: REJECT_REQUEST:
//
//   - a path that does not start with "/", or holds an encoded "/" or "\" (%2F, %5C),
//     a raw "\", an encoded control character or a dot segment with ;parameters
//     ("..;"), is refused with 400: each would make the replica split or resolve
//     segments differently from the gateway;
//   - dot segments ("." and "..", in any encoding such as %2e%2e) are resolved as
//     RFC 3986 §5.2.4 says, never above the root, and empty segments ("//") merged;
//   - this happens before routing, so the route chosen is the one for the path
//     really forwarded; strip_prefix then removes whole segments only.
//
// Every other segment keeps the client's encoding. What reaches a replica is then its
// URL's base path followed by a clean path: it can never leave the base path.

// normalizePath applies the path rule to u in place, or says why it refuses it.
func normalizePath(u *url.URL) *edgeError {
	if u.RawPath == "" && alreadyClean(u.Path) {
		return nil // the usual case, without allocating
	}
	return normalizeFull(u)
}

// normalizeFull is the whole rule, for any path.
func normalizeFull(u *url.URL) *edgeError {
	escaped := u.EscapedPath()
	if !strings.HasPrefix(escaped, "/") {
		return refuse(refuseBadRequest, "request path must start with /")
	}
	if bad := separatorLike(escaped); bad != "" {
		return refuse(refuseBadRequest, "request path holds "+bad+", which replicas may read as a separator")
	}
	segs := strings.Split(escaped[1:], "/")
	out := make([]string, 0, len(segs))
	trailing := false // a clean path ends in "/" when the last segment was a directory
	for i, seg := range segs {
		last := i == len(segs)-1
		dec, err := url.PathUnescape(seg)
		switch {
		case err != nil:
			return refuse(refuseBadRequest, "request path: "+err.Error())
		case hasControl(dec):
			return refuse(refuseBadRequest, "request path holds an encoded control character")
		case isDotWithParams(dec):
			return refuse(refuseBadRequest, `request path holds a dot segment with parameters ("..;"), which replicas such as Tomcat resolve as ".."`)
		case dec == "" || dec == ".":
			trailing = last
		case dec == "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			trailing = last
		default:
			out = append(out, seg)
			trailing = false
		}
	}
	clean := "/" + strings.Join(out, "/")
	if trailing && len(out) > 0 {
		clean += "/"
	}
	return setEscapedPath(u, clean)
}

// alreadyClean says whether a decoded path (one whose escaped form is Go's default)
// is left as it is by the rule: it starts with "/", holds no "\\", no control
// character, no "//" and no segment starting with ".".
func alreadyClean(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\' || c < 0x20 || c == 0x7f:
			return false
		case c == '/' && i+1 < len(p) && (p[i+1] == '/' || p[i+1] == '.'):
			return false
		}
	}
	return true
}

// separatorLike names what in an escaped path would split segments differently on a
// replica than here, or "".
func separatorLike(escaped string) string {
	if strings.Contains(escaped, `\`) {
		return `a "\"`
	}
	for i := 0; i+2 < len(escaped); i++ {
		if escaped[i] != '%' {
			continue
		}
		switch strings.ToUpper(escaped[i+1 : i+3]) {
		case "2F":
			return "an encoded slash (%2F)"
		case "5C":
			return "an encoded backslash (%5C)"
		}
	}
	return ""
}

// isDotWithParams says whether a decoded segment is "." or ".." followed by
// ;parameters (RFC 2396's path parameters): Tomcat, Jetty and Spring drop what follows
// ";" before they resolve dot segments, so "/files/..;/admin" is "/admin" to them
// while here it is one segment named "..;". Refused, as no real key looks like that.
func isDotWithParams(seg string) bool {
	before, _, found := strings.Cut(seg, ";")
	return found && (before == "." || before == "..")
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// setEscapedPath sets u's path from its escaped form, keeping RawPath only when the
// client's encoding differs from Go's default (as url.URL itself does), so chi routes
// and net/http sends exactly that encoding.
func setEscapedPath(u *url.URL, escaped string) *edgeError {
	path, err := url.PathUnescape(escaped)
	if err != nil {
		return refuse(refuseBadRequest, "request path: "+err.Error())
	}
	u.Path, u.RawPath = path, ""
	if u.EscapedPath() != escaped {
		u.RawPath = escaped
	}
	return nil
}

// stripPrefix removes prefix (a decoded path such as /api, no trailing slash) from a
// normalized u, whole segments only: /api/x becomes /x, /apix/y does not match. The
// result always starts with "/".
func stripPrefix(u *url.URL, prefix string) (*url.URL, bool) {
	path := u.Path
	if path != prefix && !strings.HasPrefix(path, prefix+"/") {
		return nil, false
	}
	// A normalized path has no encoded slash, so the escaped form has the same
	// segments: skip as many as the prefix has.
	escaped := u.EscapedPath()
	for range strings.Count(prefix, "/") {
		i := strings.IndexByte(escaped[1:], '/')
		if i < 0 {
			escaped = ""
			break
		}
		escaped = escaped[i+1:]
	}
	if escaped == "" {
		escaped = "/"
	}
	out := *u
	if err := setEscapedPath(&out, escaped); err != nil {
		return nil, false
	}
	return &out, true
}
