package hedge

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// The engine keeps every attempt inside its replica's base path on its own, whoever
// calls it: the gateway normalises paths before routing (server/path.go), but Plan.Do
// and Transport take any request a Go program builds. Dot segments ("." and "..", in
// any percent-encoding) are resolved as RFC 3986 §5.2.4 says, never above the root, so
// joined to the base path they cannot climb out of it. A segment that holds an encoded
// separator (%2F, or a "\" raw or encoded) around a dot segment, such as "..%2F..",
// would become dot segments only in a replica that decodes separators before it
// resolves them, which the engine cannot know: the request is refused, as is a dot
// segment with ;parameters ("..;x"), which Tomcat, Jetty and Spring resolve as "..".
// Other encoded separators ("a%2Fb") stay as they are.

// errPathEscapes is a request path that could reach outside a replica's base path.
var errPathEscapes = errors.New("request path holds a dot segment behind an encoded separator or with ;parameters, which a replica may resolve outside its base path")

// confine returns req with its path cleaned of dot segments: req itself when there
// are none (the usual case, without allocating), else a copy with a new URL.
func confine(req *http.Request) (*http.Request, error) {
	path, rawPath, err := cleanPath(req.URL)
	if err != nil {
		return nil, err
	}
	if path == req.URL.Path && rawPath == req.URL.RawPath {
		return req, nil
	}
	out := *req
	u := *req.URL
	u.Path, u.RawPath = path, rawPath
	out.URL = &u
	return &out, nil
}

// cleanPath is u's path with its dot segments resolved, decoded and (when that is not
// the default encoding) as sent, or errPathEscapes.
func cleanPath(u *url.URL) (path, rawPath string, err error) {
	if u.RawPath == "" && !mayHoldDots(u.Path) {
		return u.Path, "", nil
	}
	escaped := u.EscapedPath()
	segs := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	out := make([]string, 0, len(segs))
	trailing := false // the clean path ends in "/" when the last segment was a dot segment
	for i, seg := range segs {
		dec, err := url.PathUnescape(seg)
		if err != nil { // EscapedPath only returns valid encodings; never reached
			return "", "", err
		}
		switch {
		case dec == ".":
			trailing = i == len(segs)-1
		case dec == "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			trailing = i == len(segs)-1
		case dotsBehindSeparator(dec):
			return "", "", errPathEscapes
		default:
			out = append(out, seg)
		}
	}
	clean := "/" + strings.Join(out, "/")
	if trailing && len(out) > 0 {
		clean += "/"
	}
	if path, err = url.PathUnescape(clean); err != nil {
		return "", "", err
	}
	if (&url.URL{Path: path}).EscapedPath() != clean {
		rawPath = clean
	}
	return path, rawPath, nil
}

// mayHoldDots says whether a decoded path (whose encoding is Go's default) could hold
// a dot segment or a backslash; false for most paths, which are then left untouched.
func mayHoldDots(p string) bool {
	return strings.HasPrefix(p, ".") || strings.Contains(p, "/.") || strings.Contains(p, `\`)
}

// dotsBehindSeparator says whether a decoded segment holds "." or ".." once split on
// "/" or "\", or once what follows a ";" is dropped (Tomcat, Jetty and Spring read
// "..;x" as ".."): the segment's own dot form is handled by cleanPath.
func dotsBehindSeparator(seg string) bool {
	for _, piece := range strings.FieldsFunc(seg, func(r rune) bool { return r == '/' || r == '\\' }) {
		piece, _, _ = strings.Cut(piece, ";")
		if piece == "." || piece == ".." {
			return true
		}
	}
	return false
}
