package hedge

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The engine on its own (hedge.Transport, with no gateway's path rule in front) never
// sends a path outside the replica's base path: dot segments, in any encoding, are
// resolved within it, and a segment that would turn into dot segments only once a
// replica decodes its separators is refused.
func TestEnginePathsStayUnderTheBasePath(t *testing.T) {
	seen := make(chan string, 16) // room for every case: a handler never blocks
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) bool {
		seen <- r.RequestURI
		return true
	})
	p, _ := newTestPlan(t, []string{b.srv.URL + "/public"}, "", Options{})
	client := &http.Client{Transport: &Transport{Plan: p}}
	for _, tc := range []struct {
		name, path, raw string
		want            string // "" for refused
	}{
		{"clean", "/kv/a", "", "/public/kv/a"},
		{"dot-dot", "/../private/secret", "", "/public/private/secret"},
		{"dot-dot past the root", "/kv/../../../private", "", "/public/private"},
		{"dots inside", "/a/./b/../c", "", "/public/a/c"},
		{"trailing dot-dot", "/a/b/..", "", "/public/a/"},
		{"encoded dot-dot", "/../private", "/%2e%2E/private", "/public/private"},
		{"encoded slash kept", "/kv/a/b", "/kv/a%2Fb", "/public/kv/a%2Fb"},
		{"dot file kept", "/.well-known/x", "", "/public/.well-known/x"},
		{"encoded slash and dots", "/files/../../private", "/files/..%2f..%2fprivate", ""},
		{"backslash dots", `/files/..\..\private`, "", ""},
		{"dot-dot with parameters", "/files/..;/private", "", ""},
		{"encoded dot-dot with parameters", "/files/..;x/private", "/files/%2e%2e%3Bx/private", ""},
		{"parameters kept", "/kv/a;v=1", "", "/public/kv/a;v=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := b.calls.Load()
			u := &url.URL{Scheme: "http", Host: "kv.invalid", Path: tc.path, RawPath: tc.raw}
			resp, err := client.Do(&http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}})
			if tc.want == "" {
				var e *Error
				if !errors.As(err, &e) || e.Outcome != OutcomeBadRequest {
					t.Fatalf("got %v, want the request refused with OutcomeBadRequest", err)
				}
				if b.calls.Load() != before {
					t.Errorf("the replica was asked for %q", <-seen)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := <-seen; got != tc.want {
				t.Errorf("replica saw %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzCleanPath: whatever the path, what the engine sends holds no dot segment once a
// replica decodes it, splits it on / or \ and drops ;parameters, however it does so.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/kv/a", "/../x", "/%2e%2e/x", "/a%2F..%2Fb", `/a\..\b`, "//a//../b", "/a/b/.", "/a/..;/b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		path, rawPath, err := cleanPath(u)
		if err != nil {
			return
		}
		out := url.URL{Path: path, RawPath: rawPath}
		dec, err := url.PathUnescape(out.EscapedPath())
		if err != nil {
			t.Fatalf("%q: cleaned to an undecodable %q", raw, out.EscapedPath())
		}
		for _, seg := range strings.FieldsFunc(dec, func(r rune) bool { return r == '/' || r == '\\' }) {
			if seg, _, _ = strings.Cut(seg, ";"); seg == "." || seg == ".." {
				t.Fatalf("%q: cleaned to %q (%q), which holds a dot segment", raw, out.EscapedPath(), dec)
			}
		}
		if dec != path {
			t.Fatalf("%q: escaped %q decodes to %q, not the path %q", raw, out.EscapedPath(), dec, path)
		}
	})
}
