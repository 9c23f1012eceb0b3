package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
)

// FuzzEdge drives the gateway's client handler, over loopback, with arbitrary methods,
// request targets, one header and a body, in front of replicas whose URLs have base
// paths. Whatever it sends: every path a replica sees is under its base path and
// clean (no dot segment, no empty segment, no encoded separator), no handler panics,
// and every answer is a well-formed HTTP response that ends cleanly.
func FuzzEdge(f *testing.F) {
	for _, seed := range []struct {
		method, target, hname, hvalue, body string
	}{
		{"GET", "/files/../private/secret", "X-A", "1", ""},
		{"GET", "/files/..%2fprivate%2fsecret", "X-A", "1", ""},
		{"GET", "/files/%2e%2e/%2E%2e/x", "X-Request-Timeout", "50ms", ""},
		{"GET", "/any//a/./b/../../../c?q=../x", "Connection", "close", ""},
		{"POST", "/files/q", "Content-Type", "application/json", `{"q":1}`},
		{"HEAD", "/any/%5c..%5c", "X-Forwarded-For", "10.0.0.1", ""},
		{"DELETE", "/files/x", "Expect", "100-continue", "abc"},
		{"GET", "http://other.example/files/../x", "Host", "evil", ""},
		{"GET", "/files/a%00b", "Transfer-Encoding", "chunked", "xyz"},
		{"GET", "/files/t", "Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""},
		{"GET", "/any/t", "Traceparent", "ff-zz-00f067aa0ba902b7-0x", ""},
	} {
		f.Add(seed.method, seed.target, seed.hname, seed.hvalue, []byte(seed.body))
	}

	seen := make(chan string, 64)
	record := func(w http.ResponseWriter, r *http.Request) {
		if r.UserAgent() != "hedgegate-warmup" {
			seen <- r.RequestURI
		}
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}
	files := httptest.NewServer(http.HandlerFunc(record))
	defer files.Close()
	anyRep := httptest.NewServer(http.HandlerFunc(record))
	defer anyRep.Close()
	// The access log and tracing are on, so that their records, bounds and the
	// traceparent parser see every input too.
	yaml := fmt.Sprintf(`limits: {max_request_body_bytes: 64, max_header_bytes: 4096}
log: {access: {enabled: true}}
tracing: {sample_ratio: 1}
replica_sets:
  files: {warm_connections: 0, replicas: [{name: f1, url: %q}]}
  any: {warm_connections: 0, replicas: [{name: a1, url: %q}]}
routes:
  - {name: files, match: "/files/*", methods: [GET, HEAD, POST], strip_prefix: /files, replica_set: files, timeout: 500ms}
  - {name: any, match: "/*", replica_set: any, timeout: 500ms}
`, files.URL+"/base/f", anyRep.URL+"/a")
	cfg, err := config.Parse([]byte(yaml), "fuzz.yaml")
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), SpanExporter: discardExporter{}})
	if err != nil {
		f.Fatal(err)
	}
	s.tracing.start(discardLog)
	defer s.tracing.shutdown(context.Background())
	var serverLog syncLog
	front := httptest.NewUnstartedServer(s.Handler())
	front.Config.ErrorLog = log.New(&serverLog, "", 0)
	front.Config.MaxHeaderBytes = cfg.Limits.MaxHeaderBytes
	front.Start()
	defer func() {
		front.Close()
		for _, set := range s.state.Load().sets {
			set.Close()
		}
	}()

	f.Fuzz(func(t *testing.T, method, target, hname, hvalue string, body []byte) {
		method = keepOnly(method, isTokenByte)
		if method == "" {
			method = "GET"
		}
		target = keepOnly(target, func(c byte) bool { return c > ' ' && c != 0x7f })
		if target == "" {
			target = "/"
		}
		hname = keepOnly(hname, isTokenByte)
		hvalue = keepOnly(hvalue, func(c byte) bool { return c >= ' ' && c != 0x7f })
		var req bytes.Buffer
		fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: gw\r\n", method, target)
		if hname != "" && !strings.EqualFold(hname, "Host") && !strings.EqualFold(hname, "Content-Length") &&
			!strings.EqualFold(hname, "Transfer-Encoding") {
			fmt.Fprintf(&req, "%s: %s\r\n", hname, hvalue)
		}
		fmt.Fprintf(&req, "Content-Length: %d\r\nConnection: close\r\n\r\n", len(body))
		req.Write(body)

		conn, err := net.Dial("tcp", front.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(req.Bytes()); err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewReader(conn)
		var resp *http.Response
		for range 3 { // a 100 Continue may come first
			resp, err = http.ReadResponse(rd, &http.Request{Method: method})
			if err != nil {
				t.Fatalf("%q: no well-formed answer: %v", req.String(), err)
			}
			if resp.StatusCode >= 200 {
				break
			}
		}
		if resp.StatusCode < 200 || resp.StatusCode > 599 {
			t.Fatalf("%q: status %d", req.String(), resp.StatusCode)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatalf("%q: answer %d did not end cleanly: %v", req.String(), resp.StatusCode, err)
		}
		resp.Body.Close()
		for {
			select {
			case p := <-seen:
				checkForwardedPath(t, req.String(), p)
				continue
			default:
			}
			break
		}
		if strings.Contains(serverLog.String(), "panic") {
			t.Fatalf("%q: a handler panicked:\n%s", req.String(), serverLog.String())
		}
	})
}

// checkForwardedPath fails unless p, a request target a replica received, is under
// one of the replicas' base paths and clean.
func checkForwardedPath(t *testing.T, sent, p string) {
	t.Helper()
	path, _, _ := strings.Cut(p, "?")
	under := false
	for _, base := range []string{"/base/f", "/a"} {
		if path == base || strings.HasPrefix(path, base+"/") {
			under = true
		}
	}
	if !under {
		t.Fatalf("%q reached a replica as %q, outside its base path", sent, p)
	}
	if strings.Contains(path, `\`) || separatorLike(path) != "" {
		t.Fatalf("%q reached a replica as %q, with a separator in disguise", sent, p)
	}
	segs := strings.Split(path[1:], "/")
	for i, seg := range segs {
		dec, err := url.PathUnescape(seg)
		if err != nil || dec == "." || dec == ".." || (dec == "" && i != len(segs)-1) {
			t.Fatalf("%q reached a replica as %q: segment %q", sent, p, seg)
		}
	}
}

func keepOnly(s string, ok func(byte) bool) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 512; i++ {
		if ok(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func isTokenByte(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, rune(c))
}

// syncLog collects net/http's error log.
type syncLog struct{ lockedBuffer }

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
