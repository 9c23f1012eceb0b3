package main

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/server"
)

// serve -h lists exactly the admin endpoints the server mounts, and each one answers
// (with debug.pprof on, so the profiler is among them).
func TestServeUsageListsTheMountedAdminEndpoints(t *testing.T) {
	listed := usageAdminEndpoints(serveUsage)
	if !slices.Equal(listed, server.AdminEndpoints) {
		t.Errorf("serve -h lists the admin endpoints %q, the server mounts %q", listed, server.AdminEndpoints)
	}
	cfg, err := config.Parse([]byte(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
debug: {pprof: true}
replica_sets:
  kv: {replicas: [{name: r1, url: "http://127.0.0.1:1"}]}
routes:
  - {name: kv-get, match: "/kv/{key}", replica_set: kv}
`), "usage.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	admin := srv.AdminHandler()
	for _, ep := range listed {
		method, path, ok := strings.Cut(ep, " ")
		if !ok {
			method, path = http.MethodGet, ep
		}
		rec := httptest.NewRecorder()
		// An empty body: POST /reload rereads no file in this test and answers 4xx/5xx, never 404.
		admin.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		if rec.Code == http.StatusNotFound || rec.Code == http.StatusMethodNotAllowed {
			t.Errorf("%s %s, listed by serve -h, answers %d", method, path, rec.Code)
		}
	}
}

// usageAdminEndpoints reads the endpoint column of the usage's admin listener section.
func usageAdminEndpoints(usage string) []string {
	_, section, _ := strings.Cut(usage, "admin listener (")
	section, _, _ = strings.Cut(section, "\n\n")
	var eps []string
	for _, line := range strings.Split(section, "\n")[1:] {
		fields := strings.Fields(line)
		switch {
		case len(fields) >= 2 && fields[0] == "POST":
			eps = append(eps, "POST "+fields[1])
		case len(fields) >= 1 && strings.HasPrefix(line, "  /"):
			eps = append(eps, fields[0])
		}
	}
	return eps
}
