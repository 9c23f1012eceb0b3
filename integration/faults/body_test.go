package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestExpectedBodyIsExactAndDiffersByKey(t *testing.T) {
	a := expectedBody("k1", keyVersion("k1"), 1000)
	if len(a) != 1000 {
		t.Fatalf("len %d, want 1000", len(a))
	}
	if !strings.HasPrefix(string(a), `{"key":"k1","version":`) || !strings.HasSuffix(string(a), "\"}\n") {
		t.Fatalf("not the JSON frame: %.60q...%q", a, a[len(a)-4:])
	}
	if b := expectedBody("k2", keyVersion("k1"), 1000); string(a[40:]) == string(b[40:]) {
		t.Fatal("two keys have the same pad")
	}
	if b := expectedBody("k1", keyVersion("k1")+1, 1000); string(a[40:]) == string(b[40:]) {
		t.Fatal("two versions have the same pad")
	}
}

func TestJudge(t *testing.T) {
	const key, size = "k7", 2048
	v := strconv.FormatInt(keyVersion(key), 10)
	body := expectedBody(key, keyVersion(key), size)
	flipped := append([]byte(nil), body...)
	flipped[1000] ^= 1
	for _, tc := range []struct {
		name     string
		xVersion string
		body     []byte
		readErr  error
		want     verdict
		reason   string
	}{
		{"whole answer", v, body, nil, verdictOK, ""},
		{"cut, and the client saw it", v, body[:700], io.ErrUnexpectedEOF, verdictCut, "cut after 700 bytes"},
		{"cut, with a clean end", v, body[:700], nil, verdictWrong, "ended cleanly after 700 of 2048"},
		{"a byte changed", v, flipped, nil, verdictWrong, "at byte 1000"},
		{"a byte too many", v, append(append([]byte(nil), body...), 'x'), nil, verdictWrong, "2049 bytes"},
		{"another key's answer", strconv.FormatInt(keyVersion("k8"), 10), expectedBody("k8", keyVersion("k8"), size), nil, verdictWrong, "X-Version"},
		{"right header, wrong version in the body", v, expectedBody(key, keyVersion(key)-1, size), nil, verdictWrong, "differs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := judge(key, size, tc.xVersion, true, tc.body, tc.readErr)
			if got != tc.want || !strings.Contains(reason, tc.reason) {
				t.Fatalf("judge = %v %q, want %v containing %q", got, reason, tc.want, tc.reason)
			}
		})
	}
}

// The replica's answers, over real HTTP, are what the client expects, in both
// framings; and one cut short by a server that closes mid-body is caught either way.
func TestReplicaAnswersPassAndCutsAreCaught(t *testing.T) {
	const size = 3*bodyPiece + 100
	r, err := startReplica("r1", "127.0.0.1:0", size, 0, time.Millisecond, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	c := newLoadClient("http://"+r.addr(), 4, size, 5*time.Second)
	defer c.close()
	framings := map[bool]int{}
	for i := range 4 {
		key := "k" + strconv.Itoa(i)
		rec := c.one(t.Context(), time.Now(), "", key)
		if rec.verdict != verdictOK {
			t.Fatalf("%s: %v %s", key, rec.verdict, rec.reason)
		}
		framings[chunkedKey(key)]++
	}
	if len(framings) != 2 {
		t.Fatalf("keys k0..k3 use one framing only: %v", framings)
	}
	if got := r.served.Load(); got != 4 {
		t.Fatalf("served %d, want 4", got)
	}

	// A server that sends half the body and closes: with a length the client's read
	// fails; chunked, the stream ends without its last chunk, which fails it too.
	for _, chunked := range []bool{false, true} {
		key := keyFor(t, chunked)
		srv := cutServer(t, key, size)
		c := newLoadClient(srv, 1, size, 5*time.Second)
		rec := c.one(t.Context(), time.Now(), "", key)
		c.close()
		if rec.verdict != verdictCut {
			t.Errorf("chunked=%v: %v %s, want cut", chunked, rec.verdict, rec.reason)
		}
	}
}

func keyFor(t *testing.T, chunked bool) string {
	for i := range 100 {
		if k := "k" + strconv.Itoa(i); chunkedKey(k) == chunked {
			return k
		}
	}
	t.Fatal("no key with that framing in k0..k99")
	return ""
}

// cutServer answers key with the right headers and half its body, then drops the
// connection; it returns the server's URL.
func cutServer(t *testing.T, key string, size int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body := expectedBody(key, keyVersion(key), size)
		w.Header().Set("X-Version", strconv.FormatInt(keyVersion(key), 10))
		if !chunkedKey(key) {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.WriteHeader(http.StatusOK)
		w.Write(body[:len(body)/2])
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler) // closes the connection without finishing the answer
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
