package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hedgegate/hedgegate/config"
)

// getAdmin fetches path from the admin listener and returns its status and body.
func getAdmin(t *testing.T, g *gateway, path string) (int, string) {
	t.Helper()
	resp, err := g.admin.Client().Get(g.admin.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

var pprofPaths = []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline", "/debug/pprof/symbol"}

func TestPprofIsOffByDefault(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	g := newGateway(t, gatewayYAML([]string{r1.srv.URL}, ""))
	if g.srv.Config().Debug.Pprof {
		t.Fatal("debug.pprof defaults to true")
	}
	for _, p := range pprofPaths {
		if code, body := getAdmin(t, g, p); code != http.StatusNotFound {
			t.Errorf("GET %s with debug.pprof off = %d %.80q, want 404", p, code, body)
		}
	}
	// The other debug endpoints are not behind the switch.
	if code, _ := getAdmin(t, g, "/debug/replicas"); code != http.StatusOK {
		t.Errorf("GET /debug/replicas = %d", code)
	}
}

func TestPprofServesWhenOnAndFollowsReload(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	yaml := gatewayYAML([]string{r1.srv.URL}, "debug: {pprof: true}\n")
	g := newGateway(t, yaml)
	for _, p := range pprofPaths {
		if code, body := getAdmin(t, g, p); code != http.StatusOK {
			t.Errorf("GET %s with debug.pprof on = %d %.80q, want 200", p, code, body)
		}
	}
	if _, body := getAdmin(t, g, "/debug/pprof/goroutine?debug=1"); !strings.Contains(body, "goroutine profile:") {
		t.Errorf("goroutine profile = %.200q", body)
	}

	off, err := config.Parse([]byte(strings.Replace(yaml, "pprof: true", "pprof: false", 1)), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.srv.swap(off); err != nil {
		t.Fatal(err)
	}
	if code, _ := getAdmin(t, g, "/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ after a reload turned it off = %d, want 404", code)
	}
}

func TestDebugReplicasShowsDials(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	g := newGateway(t, gatewayYAML([]string{r1.srv.URL}, ""))
	for range 3 {
		g.do(t, "GET", "/kv/a", nil, nil) // one after the other: one connection
	}
	_, body := getAdmin(t, g, "/debug/replicas")
	var rep struct {
		ReplicaSets []struct {
			Replicas []struct {
				Dials *uint64 `json:"dials"`
			} `json:"replicas"`
		} `json:"replica_sets"`
		Legend map[string]string `json:"legend"`
	}
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.ReplicaSets) != 1 || len(rep.ReplicaSets[0].Replicas) != 1 {
		t.Fatalf("/debug/replicas = %s", body)
	}
	if d := rep.ReplicaSets[0].Replicas[0].Dials; d == nil || *d != 1 {
		t.Errorf("dials after three sequential requests = %v, want 1: %s", d, body)
	}
	if rep.Legend["dials"] == "" {
		t.Error("the legend does not say what dials counts")
	}
}
