package servertest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/goleak"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/server"
	"github.com/hedgegate/hedgegate/server/servertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Start returns a ready gateway on loopback, and Close stops both listeners.
func TestStartServesUntilClose(t *testing.T) {
	replica := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "answer for "+r.URL.Path)
	}))
	defer replica.Close()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`listen: 127.0.0.1:1
admin_listen: 127.0.0.1:2
replica_sets:
  kv:
    warm_connections: 1
    replicas: [{name: r1, url: %q}]
routes:
  - {name: kv-get, match: "/kv/{key}", replica_set: kv}
`, replica.URL)), "servertest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g, err := servertest.Start(cfg, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	c := &http.Client{Transport: tr}
	if !g.Server.Ready() {
		t.Error("Start returned before the replica set was warm")
	}
	if code, body := get(t, c, g.URL+"/kv/a"); code != 200 || body != "answer for /kv/a" {
		t.Errorf("client listener: %d %q", code, body)
	}
	if code, _ := get(t, c, g.AdminURL+"/readyz"); code != 200 {
		t.Errorf("admin /readyz: %d", code)
	}
	tr.CloseIdleConnections()
	if err := g.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := g.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, u := range []string{g.URL, g.AdminURL} {
		if resp, err := c.Get(u + "/healthz"); err == nil {
			resp.Body.Close()
			t.Errorf("%s still answers after Close: %s", u, resp.Status)
		}
	}
}
