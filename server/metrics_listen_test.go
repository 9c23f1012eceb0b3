package server

import (
	"net/http"
	"strings"
	"testing"
)

// The metrics listener is what Prometheus and kubelet probes reach on the pod's
// address: metrics and probes, and none of the admin listener's control or debug
// endpoints. Its /readyz follows the drain like the admin one.
func TestMetricsListenerServesOnlyMetricsAndProbes(t *testing.T) {
	ok := newReplica(t, "r1", nil)
	g := serveOver(t, protocols[0], gatewayYAML([]string{ok.srv.URL}, "shutdown: {drain_delay: 1h}\n"), true, nil)
	g.waitReady(t)
	if r := g.do(t, "GET", "/kv/a", nil, nil); r.status != 200 {
		t.Fatal(r.status)
	}
	// The request is counted once its handler returns, which can be just after the
	// client has read the answer.
	counted := `hedgegate_requests_total{code="200",route="kv-get"} 1`
	waitFor(t, func() bool { _, page := get(t, "GET", g.admin+"/metrics"); return strings.Contains(page, counted) }, "the request counted")
	for _, tc := range []struct {
		method, path string
		want         int
		body         string
	}{
		{"GET", "/metrics", 200, `hedgegate_requests_total{code="200",route="kv-get"} 1`},
		{"GET", "/healthz", 200, "ok"},
		{"GET", "/readyz", 200, `"ready": true`},
		{"GET", "/debug/config", 404, ""},
		{"GET", "/debug/replicas", 404, ""},
		{"GET", "/debug/advisor", 404, ""},
		{"POST", "/reload", 404, ""},
		{"GET", "/debug/pprof/", 404, ""},
		{"POST", "/metrics", 405, ""},
	} {
		code, body := get(t, tc.method, g.metrics+tc.path)
		if code != tc.want || !strings.Contains(body, tc.body) {
			t.Errorf("%s %s on the metrics listener: %d %.80q, want %d with %q", tc.method, tc.path, code, body, tc.want, tc.body)
		}
	}
	if _, page := get(t, "GET", g.metrics+"/metrics"); strings.Contains(page, "hedgegate_tls_certificate") {
		t.Error("a certificate expiry without tls")
	}
	// The admin listener still has all of it.
	if code, _ := get(t, "GET", g.admin+"/debug/config"); code != 200 {
		t.Errorf("admin /debug/config: %d", code)
	}
	if code, _ := get(t, "GET", g.admin+"/metrics"); code != 200 {
		t.Errorf("admin /metrics: %d", code)
	}
	g.sigterm()
	waitFor(t, func() bool { return g.srv.draining.Load() }, "the drain")
	if code, body := get(t, "GET", g.metrics+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
		t.Errorf("metrics /readyz during the drain: %d %s", code, body)
	}
	if code, _ := get(t, "GET", g.metrics+"/metrics"); code != 200 {
		t.Errorf("metrics /metrics during the drain: %d", code)
	}
}
