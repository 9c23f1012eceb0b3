package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Every answer a client gets is in hedgegate_requests_total: those given before
// routing (shed, headers too large, a refused path, no route) under route="".
func TestUnroutedAnswersAreCountedUnderTheEmptyRoute(t *testing.T) {
	r1 := newReplica(t, "r1", func(r *replica) { r.hangs = true })
	g := newGateway(t, gatewayYAML([]string{r1.srv.URL}, "limits: {max_inflight: 1, max_header_bytes: 2048}\n"))
	for _, tc := range []struct {
		path   string
		header http.Header
		want   int
	}{
		{"/kv/a", http.Header{"X-Big": {strings.Repeat("x", 3000)}}, http.StatusRequestHeaderFieldsTooLarge},
		{"/kv/a%00b", nil, http.StatusBadRequest},
		{"/nowhere", nil, http.StatusNotFound},
	} {
		if resp, body := g.do(t, "GET", tc.path, nil, tc.header); resp.StatusCode != tc.want {
			t.Fatalf("GET %s: %d %q, want %d", tc.path, resp.StatusCode, body, tc.want)
		}
	}
	done := make(chan int, 1)
	go func() {
		resp, _ := g.do(t, "GET", "/api/search/slow", nil, nil)
		done <- resp.StatusCode
	}()
	for i := 0; r1.calls.Load() == 0 && i < 500; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if resp, body := g.do(t, "GET", "/kv/a", nil, nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("got %d %q, want the shed 503", resp.StatusCode, body)
	}
	close(r1.released)
	<-done

	m := g.srv.metrics
	// Counted once the handler returns, which can be just after the client has the answer.
	for _, code := range []string{"431", "400", "404", "503"} {
		waitFor(t, func() bool { return testutil.ToFloat64(m.requests.WithLabelValues("", code)) == 1 },
			`hedgegate_requests_total{route="",code="`+code+`"} is not 1`)
	}
	if n := testutil.ToFloat64(m.requests.WithLabelValues("kv-get", "503")); n != 0 {
		t.Errorf("the shed request was counted on its route too (%v)", n)
	}
}
