package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hedgegate/hedgegate/config"
)

// routesConfig is a config with two replica sets (a, b) on unreachable loopback
// ports and routesYAML as its routes: list items (unindented).
func routesConfig(t *testing.T, routesYAML string) *config.Config {
	t.Helper()
	src := "replica_sets:\n" +
		"  a: {warm_connections: 0, replicas: [{name: r1, url: \"http://127.0.0.1:1\"}]}\n" +
		"  b: {warm_connections: 0, replicas: [{name: r2, url: \"http://127.0.0.1:2\"}]}\n" +
		"routes:\n" + indentLines(routesYAML, "  ")
	cfg, err := config.Parse([]byte(src), "r.yaml")
	if err != nil {
		t.Fatalf("config.Parse refused what only the router should: %v\n%s", err, src)
	}
	return cfg
}

func indentLines(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Routes start at line 5 of routesConfig's file.
func TestCheckRoutesRefusesWhatChiCannotCompile(t *testing.T) {
	cfg := routesConfig(t, `- {name: bad-regexp, match: "/kv/{key:[a-}", replica_set: a}
- {name: fine, match: "/ok/{key}", replica_set: a}
- {name: twice, match: "/kv/{key}/{key}", replica_set: b}
`)
	want := []string{
		`r.yaml:5: routes[0].match: "/kv/{key:[a-}": the router refuses it: invalid regexp pattern '^[a-$' in route param`,
		`r.yaml:7: routes[2].match: "/kv/{key}/{key}": the router refuses it: routing pattern '/kv/{key}/{key}' contains duplicate param key, 'key'`,
	}
	if got := strings.Split(CheckRoutes(cfg).Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("CheckRoutes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// serve builds the same router: it refuses the config with the same lines, and
	// does not panic.
	_, err := New(cfg, Options{Logger: quietLogger()})
	var probs config.Problems
	if !errors.As(err, &probs) || probs.Error() != strings.Join(want, "\n") {
		t.Errorf("New: %v, want the same problems", err)
	}
}

func TestOverlappingRoutesAreRefusedWithBothLines(t *testing.T) {
	for _, tt := range []struct {
		name, first, second string
		want                string // "" when both routes are served
	}{
		{"parameter names differ", "/kv/{key}", "/kv/{id}",
			`r.yaml:6: routes[1].match: "/kv/{id}" routes the same requests as routes[0].match "/kv/{key}" (line 5), which already serves GET: one of the two would never serve`},
		{"regexp anchors are implied", "/n/{a:[0-9]+}", "/n/{b:^[0-9]+$}",
			`r.yaml:6: routes[1].match: "/n/{b:^[0-9]+$}" routes the same requests as routes[0].match "/n/{a:[0-9]+}" (line 5), which already serves GET: one of the two would never serve`},
		{"the parameter's tail counts", "/kv/{key}.json", "/kv/{id}.json",
			`r.yaml:6: routes[1].match: "/kv/{id}.json" routes the same requests as routes[0].match "/kv/{key}.json" (line 5), which already serves GET: one of the two would never serve`},
		{"a regexp is another route", "/kv/{key}", "/kv/{key:[a-z]+}", ""},
		{"a different tail is another route", "/kv/{key}", "/kv/{key}.json", ""},
		{"a trailing slash is another route", "/kv/{key}", "/kv/{key}/", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := routesConfig(t, fmt.Sprintf("- {name: one, match: %q, methods: [GET, HEAD], replica_set: a}\n"+
				"- {name: two, match: %q, methods: [GET], replica_set: b}\n", tt.first, tt.second))
			got := ""
			if probs := CheckRoutes(cfg); probs != nil {
				got = probs.Error()
			}
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// Routes whose patterns chi does not tell apart but whose methods differ are one chi
// route dispatched by method: each request reaches its own route's replica set.
func TestSameShapeRoutesSplitByMethod(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	r2 := newReplica(t, "r2", nil)
	g := newGateway(t, fmt.Sprintf(`replica_sets:
  a: {warm_connections: 0, replicas: [{name: r1, url: %q}]}
  b: {warm_connections: 0, replicas: [{name: r2, url: %q}]}
routes:
  - {name: reads, match: "/kv/{key}", methods: [GET], replica_set: a}
  - {name: queries, match: "/kv/{id}", methods: [POST], replica_set: b}
`, r1.srv.URL, r2.srv.URL))
	if resp, body := g.do(t, "GET", "/kv/x", nil, nil); resp.StatusCode != 200 || body != "r1:/kv/x" {
		t.Errorf("GET: %d %q, want the GET route's replica", resp.StatusCode, body)
	}
	if resp, body := g.do(t, "POST", "/kv/x", strings.NewReader("q"), nil); resp.StatusCode != 200 || body != "r2:/kv/x" {
		t.Errorf("POST: %d %q, want the POST route's replica", resp.StatusCode, body)
	}
}

// A file that passes config validation but not the router is refused by both reload
// paths (SIGHUP calls Reload; admin POST /reload too), and the gateway keeps serving
// the config it had.
func TestReloadRefusesAnUnroutableConfig(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	path := filepath.Join(t.TempDir(), "gw.yaml")
	good := setYAML(map[string]string{"r1": r1.srv.URL}, "r1")
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	front, admin := httptest.NewServer(s.Handler()), httptest.NewServer(s.AdminHandler())
	t.Cleanup(func() {
		front.Close()
		admin.Close()
		s.state.Load().sets["kv"].Close()
	})
	for _, bad := range []string{"/kv/{key:[a-}", "/kv/{key}/{key}"} {
		os.WriteFile(path, []byte(strings.Replace(good, "match: /kv/{key}", fmt.Sprintf("match: %q", bad), 1)), 0o600)
		if _, err := config.Load(path); err != nil {
			t.Fatalf("%s: config.Load refused it (%v); the test needs a file only the router refuses", bad, err)
		}
		var probs config.Problems
		if err := s.Reload(path); !errors.As(err, &probs) || len(probs) != 1 || probs[0].Line != 8 {
			t.Errorf("%s: Reload = %v, want one problem at line 8", bad, err)
		}
		resp, err := http.Post(admin.URL+"/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Problems []string }
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 400 || len(body.Problems) != 1 || !strings.HasPrefix(body.Problems[0], path+":8: routes[0].match:") {
			t.Errorf("%s: POST /reload = %d %q, want 400 with the line", bad, resp.StatusCode, body.Problems)
		}
		if s.Config() != cfg {
			t.Fatalf("%s: a refused reload replaced the config", bad)
		}
		resp, err = front.Client().Get(front.URL + "/kv/a")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: after the refused reload GET = %d", bad, resp.StatusCode)
		}
	}
}

// A panic anywhere in building a config is a refused config, not a dead process.
func TestBuildPanicIsARefusedConfig(t *testing.T) {
	cfg := routesConfig(t, "- {name: one, match: /a, replica_set: a}\n")
	cfg.Routes = append(cfg.Routes, nil) // build dereferences every route
	s := &Server{log: quietLogger(), metrics: newMetrics()}
	st, _, err := s.buildSafely(cfg, nil, nil)
	if st != nil || err == nil || !strings.Contains(err.Error(), "building the config failed") {
		t.Fatalf("buildSafely = %v, %v; want a refused config", st, err)
	}
}
