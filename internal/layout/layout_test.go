package layout

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const (
	module = "github.com/hedgegate/hedgegate"
	otel   = "go.opentelemetry.io"
)

// forbidden is, per package, the import paths (and their subpackages) that must
// not be in its dependency closure. Core packages know no HTTP framework, no
// metrics library and no tracing SDK (the server package adapts hedge.Tracer to
// OpenTelemetry); the load generator and the simulator are products of their
// own and link no other hedgegate package but the leaf internal/finesleep (allowed),
// which links none.
var forbidden = map[string][]string{
	"config":   {"github.com/go-chi/chi", "github.com/prometheus/client_golang", otel, module + "/server"},
	"latency":  {"github.com/go-chi/chi", "github.com/prometheus/client_golang", otel, module + "/server"},
	"replicas": {"github.com/go-chi/chi", "github.com/prometheus/client_golang", otel, module + "/server"},
	"hedge":    {"github.com/go-chi/chi", "github.com/prometheus/client_golang", otel, module + "/server"},
	"quorum":   {"github.com/go-chi/chi", "github.com/prometheus/client_golang", otel, module + "/server"},
	"loadtest": {"github.com/go-chi/chi", "github.com/prometheus/client_golang", otel, module + "/"},
	"sim":      {"github.com/go-chi/chi", "github.com/prometheus/client_golang", otel, module + "/"},

	"internal/finesleep": {module + "/"},
}

// allowed are the exceptions to forbidden, per package: exact import paths.
var allowed = map[string][]string{
	"loadtest": {module + "/internal/finesleep"},
	"sim":      {module + "/internal/finesleep"},
}

// TestImportRules reads every listed package's dependency closure with
// `go list -deps` (go test puts its own go command first on PATH).
func TestImportRules(t *testing.T) {
	for pkg, bad := range forbidden {
		t.Run(pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", module+"/"+pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
			}
			deps := strings.Fields(string(out))
			if len(deps) < 2 {
				t.Fatalf("go list -deps %s printed %q: want the package and its dependencies", pkg, out)
			}
			for _, dep := range deps {
				if dep == module+"/"+pkg || slices.Contains(allowed[pkg], dep) {
					continue
				}
				for _, b := range bad {
					if dep == strings.TrimSuffix(b, "/") || strings.HasPrefix(dep, strings.TrimSuffix(b, "/")+"/") {
						t.Errorf("%s depends on %s (forbidden: %s)", pkg, dep, b)
					}
				}
			}
		})
	}
}
