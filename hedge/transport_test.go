package hedge

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// lateHeaderReader answers every attempt at once and reads the attempt's header again
// once its context has ended, as net/http's HTTP/2 transport may: a cancelled
// stream's writer can still be encoding the request's headers after RoundTrip has
// returned, and after Result.Close has waited for every attempt.
type lateHeaderReader struct{ wg sync.WaitGroup }

func (l *lateHeaderReader) RoundTrip(req *http.Request) (*http.Response, error) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		<-req.Context().Done()
		for _, vv := range req.Header {
			for _, v := range vv {
				_ = len(v)
			}
		}
	}()
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, ContentLength: 2,
		Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
}

// The RoundTripper contract lets a caller change its request once the response body
// is closed; the attempts' transports must not be reading the caller's header then.
// Run with -race: it reports the caller's write below against the late read.
func TestTransportCallerMayChangeItsHeaderAfterClose(t *testing.T) {
	late := &lateHeaderReader{}
	defer late.wg.Wait()
	p, _ := newTestPlan(t, []string{"http://127.0.0.1:1", "http://127.0.0.1:2"},
		"strategy: parallel\nparallel: {fanout: 2}", Options{Transport: late})
	client := &http.Client{Transport: &Transport{Plan: p}}
	req, err := http.NewRequest(http.MethodGet, "http://plan.invalid/kv/a", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header["Accept"] = []string{"text/plain"}
	for i := range 3 {
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		req.Header["Accept"][0] = "text/plain; q=0." + string(rune('1'+i))
		req.Header.Set("X-Attempt-Round", string(rune('1'+i)))
	}
}
