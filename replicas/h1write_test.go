package replicas

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// framedBoth writes req with writeRequest and with (*http.Request).Write, and parses
// each back as a replica would.
func framedBoth(t *testing.T, req *http.Request) (ours, std *http.Request, oursRaw, stdRaw string, oursErr, stdErr error) {
	t.Helper()
	var a, b bytes.Buffer
	bwa := bufio.NewWriter(&a)
	errA := writeRequest(bwa, req)
	bwa.Flush()
	errB := req.Write(&b)
	if (errA == nil) != (errB == nil) {
		t.Fatalf("writeRequest error %v, Request.Write error %v", errA, errB)
	}
	if errA != nil {
		return nil, nil, "", "", errA, errB
	}
	ours, oursErr = http.ReadRequest(bufio.NewReader(bytes.NewReader(a.Bytes())))
	std, stdErr = http.ReadRequest(bufio.NewReader(bytes.NewReader(b.Bytes())))
	return ours, std, a.String(), b.String(), oursErr, stdErr
}

// sameParse fails unless the two framings parse to the same request, and nothing
// follows the request (no second request smuggled in after it).
func sameParse(t *testing.T, req *http.Request) {
	t.Helper()
	ours, std, oursRaw, stdRaw, oursErr, stdErr := framedBoth(t, req)
	if (oursErr == nil) != (stdErr == nil) {
		t.Fatalf("parsed: ours %v, Request.Write's %v\nours:\n%q\nstd:\n%q", oursErr, stdErr, oursRaw, stdRaw)
	}
	if oursErr != nil {
		return
	}
	if len(oursRaw) != len(stdRaw) {
		t.Errorf("ours is %d bytes, Request.Write's %d\nours: %q\nstd:  %q", len(oursRaw), len(stdRaw), oursRaw, stdRaw)
	}
	if ours.Method != std.Method || ours.RequestURI != std.RequestURI || ours.Host != std.Host ||
		ours.ContentLength != std.ContentLength || ours.Close != std.Close {
		t.Errorf("ours %s %s host %q len %d close %v; Request.Write's %s %s host %q len %d close %v",
			ours.Method, ours.RequestURI, ours.Host, ours.ContentLength, ours.Close,
			std.Method, std.RequestURI, std.Host, std.ContentLength, std.Close)
	}
	if !reflect.DeepEqual(ours.Header, std.Header) {
		t.Errorf("header: ours %v\nRequest.Write's %v", ours.Header, std.Header)
	}
}

func newOutgoing(t *testing.T, method, rawURL string) *http.Request {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Request{Method: method, URL: u, Header: http.Header{}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
}

func TestWriteRequestMatchesRequestWrite(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		url    string
		host   string
		header map[string][]string
	}{
		{name: "a read", method: "GET", url: "http://127.0.0.1:9101/kv/a?x=1",
			header: map[string][]string{"Accept": {"*/*"}, "X-Forwarded-For": {"10.0.0.1"}}},
		{name: "empty method is GET", method: "", url: "http://h:80/"},
		{name: "a read method other than GET", method: "SEARCH", url: "http://h/x"},
		{name: "POST without a body sends a zero length", method: "POST", url: "http://h/x"},
		{name: "HEAD sends no length", method: "HEAD", url: "http://h/x"},
		{name: "several values keep their order", method: "GET", url: "http://h/",
			header: map[string][]string{"Accept": {"a", "b", "c"}, "Cookie": {"x=1", "y=2"}}},
		{name: "a line break in a value is a space, not a new field", method: "GET", url: "http://h/",
			header: map[string][]string{"X-A": {"v\r\nX-Injected: 1"}, "X-B": {"\n"}}},
		{name: "an invalid name is dropped", method: "GET", url: "http://h/",
			header: map[string][]string{"Bad Name": {"v"}, "X:Y": {"v"}, "Ok": {"v"}}},
		{name: "fields written from the request's own fields", method: "GET", url: "http://h/",
			header: map[string][]string{"Host": {"evil"}, "Content-Length": {"5"}, "Transfer-Encoding": {"chunked"}, "Trailer": {"X"}}},
		{name: "the client's user agent", method: "GET", url: "http://h/", header: map[string][]string{"User-Agent": {"curl/8\r\n"}}},
		{name: "an empty user agent sends none", method: "GET", url: "http://h/", header: map[string][]string{"User-Agent": {""}}},
		{name: "an escaped path", method: "GET", url: "http://h/a%2Fb/c%20d?q=%20"},
		{name: "an explicit Host", method: "GET", url: "http://h/", host: "front.example:8080"},
		{name: "an invalid Host is sent empty", method: "GET", url: "http://h/", host: "a b"},
		{name: "a host with a zone goes to Request.Write", method: "GET", url: "http://[fe80::1%25en0]:80/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newOutgoing(t, tc.method, tc.url)
			req.Host = tc.host
			for k, vv := range tc.header {
				req.Header[k] = vv
			}
			sameParse(t, req)
		})
	}
}

// The fast path really is taken for the engine's requests, and left for the others.
func TestWriteRequestFastPath(t *testing.T) {
	get := newOutgoing(t, "GET", "http://127.0.0.1:1/kv/a")
	if !plainRequest(get, get.URL.Host, get.URL.RequestURI()) {
		t.Error("a GET without body is not framed by writeRequest")
	}
	for name, change := range map[string]func(*http.Request){
		"a body":             func(r *http.Request) { r.Body, r.ContentLength = http.NoBody, 3 },
		"chunked":            func(r *http.Request) { r.TransferEncoding = []string{"chunked"} },
		"Connection: close":  func(r *http.Request) { r.Close = true },
		"a trailer":          func(r *http.Request) { r.Trailer = http.Header{"X": nil} },
		"a non-token method": func(r *http.Request) { r.Method = "GE T" },
		"CONNECT":            func(r *http.Request) { r.Method = http.MethodConnect },
	} {
		r := newOutgoing(t, "GET", "http://127.0.0.1:1/kv/a")
		change(r)
		if plainRequest(r, r.URL.Host, r.URL.RequestURI()) {
			t.Errorf("%s: framed by writeRequest, not Request.Write", name)
		}
	}
}

// FuzzWriteRequest holds writeRequest to Request.Write: for any method, URL, Host and
// header, both frame a request that a server parses the same way, or both refuse.
func FuzzWriteRequest(f *testing.F) {
	f.Add("GET", "/kv/a?x=1", "", "Accept", "*/*", "X-Forwarded-For", "10.0.0.1")
	f.Add("SEARCH", "/", "h:1", "X-A", "v\r\nX-B: 1", "User-Agent", "")
	f.Add("", "/%zz", "a b", "Bad Name", "v", "Content-Length", "9")
	f.Add("HEAD", "/x", "[::1]:80", "Cookie", " a ", "Te", "trailers")
	f.Fuzz(func(t *testing.T, method, path, host, k1, v1, k2, v2 string) {
		u, err := url.Parse("http://127.0.0.1:9/")
		if err != nil {
			t.Fatal(err)
		}
		u.Path = path
		if i := strings.IndexByte(path, '?'); i >= 0 {
			u.Path, u.RawQuery = path[:i], path[i+1:]
		}
		req := &http.Request{Method: method, URL: u, Host: host, Header: http.Header{}}
		req.Header.Add(k1, v1)
		req.Header.Add(k2, v2)
		sameParse(t, req)
	})
}
