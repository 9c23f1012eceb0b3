package hedge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// instantTransport answers at once from memory, so a benchmark measures the engine.
type instantTransport struct{}

func (instantTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
}

func benchmarkDo(b *testing.B, extra string) {
	p, _ := newTestPlan(b, []string{"http://a.test", "http://b.test", "http://c.test"}, extra,
		Options{Transport: instantTransport{}})
	req := get(b, "/kv/a")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := p.Do(ctx, req, nil)
		if err != nil {
			b.Fatal(err)
		}
		res.Close()
	}
}

// BenchmarkDoHedge is the engine's cost for one hedged request whose primary answers:
// one attempt goroutine, its request copy, the hedge timer.
func BenchmarkDoHedge(b *testing.B) { benchmarkDo(b, "") }

// BenchmarkDoParallel sends two attempts per request.
func BenchmarkDoParallel(b *testing.B) { benchmarkDo(b, "strategy: parallel") }

// BenchmarkDoQuorum sends three attempts, buffers their bodies and decides.
func BenchmarkDoQuorum(b *testing.B) { benchmarkDo(b, "strategy: quorum\nquorum: {read: 2}") }

// BenchmarkWinnerBody is what the read-ahead costs a client: one hedge-route request
// to a loopback replica, from Do to the last byte of the body read and Close. The
// replica sends the headers, then the body in 4 KiB pieces, each flushed. "streamed"
// sets the read-ahead to nothing, so the answer wins with its first byte and the body
// streams on, as every answer did before the read-ahead; "read-ahead" is the engine's
// rule. For bodies within the read-ahead the difference is the copy through the
// buffer; past it, both stream.
func BenchmarkWinnerBody(b *testing.B) {
	for _, size := range []int{70, 16 << 10, 256 << 10} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			piece := bytes.Repeat([]byte("x"), min(size, 4<<10))
			for sent := 0; sent < size; sent += len(piece) {
				w.Write(piece[:min(len(piece), size-sent)])
				w.(http.Flusher).Flush()
			}
		}))
		for _, mode := range []string{"streamed", "read-ahead"} {
			b.Run(fmt.Sprintf("%dB/%s", size, mode), func(b *testing.B) {
				p, _ := newTestPlan(b, []string{srv.URL}, "hedge: {initial_delay: 1s}", Options{})
				if mode == "streamed" {
					p.readAhead = 0
				}
				req := get(b, "/kv/a")
				ctx := context.Background()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					res, err := p.Do(ctx, req, nil)
					if err != nil {
						b.Fatal(err)
					}
					if n, err := io.Copy(io.Discard, res.Response.Body); err != nil || n != int64(size) {
						b.Fatalf("read %d of %d bytes: %v", n, size, err)
					}
					res.Close()
				}
			})
		}
		srv.Close()
	}
}
