package server

import (
	"io"
	"testing"
)

// BenchmarkProxiedRequest is one client request through the whole gateway over
// loopback: router, handler, engine, the replica's answer streamed back. The replica
// and the client share the machine, so ns/op includes their work too.
func BenchmarkProxiedRequest(b *testing.B) {
	r1 := newReplica(b, "r1", nil)
	g := newGateway(b, gatewayYAML([]string{r1.srv.URL}, ""))
	client := g.front.Client()
	url := g.front.URL + "/kv/bench"
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
}
