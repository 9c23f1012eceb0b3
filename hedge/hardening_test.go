package hedge

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// switchingProtocols answers 101 Switching Protocols on a hijacked connection and
// holds it until the test ends (or 10s): a replica that upgrades a read it was
// never asked to upgrade.
func switchingProtocols(t *testing.T, version string) func(http.ResponseWriter, *http.Request) bool {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return func(w http.ResponseWriter, r *http.Request) bool {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return false
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-test\r\nConnection: Upgrade\r\nX-Version: %s\r\n\r\n", version)
		buf.Flush()
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		return true
	}
}

// closeWithin closes res on another goroutine and fails the test if Close has not
// returned within 5s: a request whose cleanup hangs holds a handler and a drain slot.
func closeWithin(t *testing.T, res *Result) {
	t.Helper()
	done := make(chan struct{})
	go func() { res.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Result.Close did not return: an attempt is still held")
	}
}

func TestUpgradeAnswerIsAFailedAttempt(t *testing.T) {
	up := newBackend(t, "up", switchingProtocols(t, "1"))
	good := newBackend(t, "good", nil)
	p, _ := newTestPlan(t, urls(up, good), "hedge: {initial_delay: 5s}", Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := p.Do(ctx, get(t, "/kv/a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(t, res)
	if res.Response.StatusCode != http.StatusOK || res.Replica != "r2" || res.Kind != KindRetry {
		t.Fatalf("served %d from %s (%v), want good's 200 through a retry: a 101 is no answer to a read",
			res.Response.StatusCode, res.Replica, res.Kind)
	}
}

func TestUpgradeAnswerDoesNotHoldAQuorum(t *testing.T) {
	up := newBackend(t, "up", switchingProtocols(t, "7"))
	r2, r3 := newBackend(t, "r2", versioned("r2", "7")), newBackend(t, "r3", versioned("r3", "7"))
	p, _ := newTestPlan(t, urls(up, r2, r3), quorumHeaderRoute, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := p.Do(ctx, get(t, "/kv/a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	closeWithin(t, res)
	if res.Replica == "r1" || res.Response.StatusCode != http.StatusOK {
		t.Errorf("served %d from %s, want an agreeing 200 from r2 or r3", res.Response.StatusCode, res.Replica)
	}
}

func TestBufferedChunkedBodyIsSentWithItsLength(t *testing.T) {
	strict := newBackend(t, "strict", func(w http.ResponseWriter, r *http.Request) bool {
		// Like a replica that refuses chunked request bodies.
		if len(r.TransferEncoding) > 0 || r.ContentLength < 0 {
			w.WriteHeader(http.StatusLengthRequired)
			return true
		}
		fmt.Fprintf(w, "%d", r.ContentLength)
		return true
	})
	p, _ := newTestPlan(t, urls(strict), "methods: [POST]", Options{})
	// As the server hands a chunked client request over: body buffered, the clone
	// still saying chunked.
	req, err := http.NewRequest(http.MethodPost, "http://gateway.invalid/kv/a", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.TransferEncoding, req.ContentLength = []string{"chunked"}, -1
	body, res, err := do(t, p, req, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Response.StatusCode != http.StatusOK || body != "7" {
		t.Errorf("replica answered %d %q, want 200 \"7\": the buffered body goes with Content-Length: 7",
			res.Response.StatusCode, strings.TrimSpace(body))
	}
}

// A buffered answer keeps the replica's Content-Length only when it says the length
// read, in canonical form; otherwise the gateway writes the real one.
func TestDeclaresLength(t *testing.T) {
	for _, tc := range []struct {
		vals []string
		n    int
		want bool
	}{
		{[]string{"65"}, 65, true}, {[]string{"0"}, 0, true}, {[]string{"065"}, 65, false},
		{[]string{"64"}, 65, false}, {[]string{"65", "65"}, 65, false}, {nil, 0, false},
		{[]string{"+65"}, 65, false}, {[]string{" 65"}, 65, false}, {[]string{""}, 0, false},
	} {
		if got := declaresLength(http.Header{"Content-Length": tc.vals}, tc.n); got != tc.want {
			t.Errorf("declaresLength(%q, %d) = %v, want %v", tc.vals, tc.n, got, tc.want)
		}
	}
}
