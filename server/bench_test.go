package server

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hedgegate/hedgegate/config"
)

// BenchmarkProxiedRequest is one client request through the whole gateway over
// loopback: router, handler, engine, the replica's answer streamed back. The replica
// and the client share the machine, so ns/op includes their work too. The cases
// differ in the access log, written as JSON lines to io.Discard: off (the default),
// on for every request, and on for 1% of them; and in the client that sends the
// attempt: hedgegate's HTTP/1.1 client (the default) or net/http's Transport.
func BenchmarkProxiedRequest(b *testing.B) {
	for _, bc := range []struct{ name, log, set string }{
		{"access=off", "", ""},
		{"access=on", "log: {access: {enabled: true}}\n", ""},
		{"access=sample0.01", "log: {access: {enabled: true, sample: 0.01}}\n", ""},
		{"access=off/client=nethttp", "", "    client: net/http\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r1 := newReplica(b, "r1", nil)
			yaml := gatewayYAML([]string{r1.srv.URL}, bc.log)
			yaml = strings.Replace(yaml, "    replicas:\n", bc.set+"    replicas:\n", 1)
			front := benchGateway(b, yaml)
			client := front.Client()
			url := front.URL + "/kv/bench"
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				resp, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatal(resp.Status)
				}
			}
		})
	}
}

// benchGateway serves yaml with the logger serve builds, writing to io.Discard.
func benchGateway(b *testing.B, yaml string) *httptest.Server {
	cfg, err := config.Parse([]byte(yaml), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	log, level := NewLogger(io.Discard, cfg.Log)
	s, err := New(cfg, Options{Logger: log, LogLevel: level})
	if err != nil {
		b.Fatal(err)
	}
	front := httptest.NewServer(s.Handler())
	b.Cleanup(func() {
		front.Close()
		for _, set := range s.state.Load().sets {
			set.Close()
		}
	})
	return front
}

// BenchmarkAccessLine is the access log's own cost per request: the pooled record
// and one JSON line to io.Discard, without the network's noise around it.
func BenchmarkAccessLine(b *testing.B) {
	cfg, err := config.Parse([]byte(gatewayYAML([]string{"http://127.0.0.1:1"}, "log: {access: {enabled: true}}\n")), "b.yaml")
	if err != nil {
		b.Fatal(err)
	}
	log, _ := NewLogger(io.Discard, cfg.Log)
	s, err := New(cfg, Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	st := s.state.Load()
	req := httptest.NewRequest("GET", "/kv/bench", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		rec := startAccess(w)
		rec.route, rec.attempts, rec.replica, rec.status, rec.bytes = "kv-get", 1, "r1", 200, 12
		s.endAccess(rec, req, st)
	}
}
