package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// versionedReplica answers every read with X-Version v (none when "") and, when
// spoof is set, an X-Hedgegate-Version of its own.
func versionedReplica(t *testing.T, v, spoof string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v != "" {
			w.Header().Set("X-Version", v)
		}
		if spoof != "" {
			w.Header().Set("X-Hedgegate-Version", spoof)
		}
		fmt.Fprintf(w, "version %s", v)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// floorGateway serves route "v" (/v/{key}, strategy strategy, X-Version versions) and
// "plain" (/p/{key}, no version) over replicas answering the given versions.
func floorGateway(t *testing.T, strategy string, versions ...string) *gateway {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("replica_sets:\n  kv:\n    warm_connections: 0\n    replicas:\n")
	for i, v := range versions {
		fmt.Fprintf(&sb, "      - {name: r%d, url: %q}\n", i+1, versionedReplica(t, v, "spoofed"))
	}
	fmt.Fprintf(&sb, `routes:
  - {name: v, match: "/v/{key}", replica_set: kv, strategy: %s, version: {header: X-Version}, hedge: {initial_delay: 1s}}
  - {name: plain, match: "/p/{key}", replica_set: kv, hedge: {initial_delay: 1s}}
`, strategy)
	return newGateway(t, sb.String())
}

func floorHeader(v string) http.Header { return http.Header{"X-Min-Version": {v}} }

func TestEveryAnswerOfAVersionedRouteCarriesItsVersion(t *testing.T) {
	g := floorGateway(t, "hedge", "7")
	resp, _ := g.do(t, "GET", "/v/a", nil, nil)
	if got := resp.Header.Get("X-Hedgegate-Version"); got != "7" {
		t.Errorf("versioned route: X-Hedgegate-Version %q, want the answer's 7 (not the replica's own header)", got)
	}
	// A route without a version says nothing of its own: the replica's header passes.
	resp, _ = g.do(t, "GET", "/p/a", nil, nil)
	if got := resp.Header.Get("X-Hedgegate-Version"); got != "spoofed" {
		t.Errorf("plain route: %q, want the replica's header passed on", got)
	}
	// An answer without a version on a versioned route: the header is absent, not the
	// replica's.
	g = floorGateway(t, "hedge", "")
	resp, _ = g.do(t, "GET", "/v/a", nil, nil)
	if got, ok := resp.Header["X-Hedgegate-Version"]; ok {
		t.Errorf("answer without a version: X-Hedgegate-Version %q, want none", got)
	}
}

func TestFloorNobodyReachesIs503WithEachReplicasVersion(t *testing.T) {
	for _, strategy := range []string{"hedge", "parallel", "quorum"} {
		t.Run(strategy, func(t *testing.T) {
			g := floorGateway(t, strategy, "5", "6", "4")
			resp, body := g.do(t, "GET", "/v/a", nil, floorHeader("9"))
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
				t.Fatalf("status %d Retry-After %q, want 503 with Retry-After: 1: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
			e := decodeError(t, body)
			if e.MinVersion != "9" || e.Route != "v" || !strings.Contains(e.Error, "minimum version 9") {
				t.Errorf("error body %s", body)
			}
			// A quorum decides once two stale answers leave too few to agree: the third
			// may be cancelled. Hedge and parallel ask all three.
			answered, want := 0, map[string]string{"r1": "5", "r2": "6", "r3": "4"}
			for _, a := range e.Attempts {
				switch {
				case strings.HasPrefix(a.Error, "stale: version "+want[a.Replica]+" is below the requested minimum 9") &&
					a.Version == want[a.Replica]:
					answered++
				case strategy == "quorum" && (strings.HasPrefix(a.Error, "cancelled") || a.Error == "" && a.Version == want[a.Replica]):
					// Cancelled, or answered after the decision: listed with its version.
				default:
					t.Errorf("attempt %+v: want %s refused as stale with its version %s", a, a.Replica, want[a.Replica])
				}
			}
			if len(e.Attempts) != 3 || answered < 2 || (strategy != "quorum" && answered != 3) {
				t.Errorf("attempts %s, want every replica listed with its version", body)
			}
			m := g.srv.metrics
			if n := testutil.ToFloat64(m.floorUnmet.WithLabelValues("v")); n != 1 {
				t.Errorf("hedgegate_floor_unmet_total = %v, want 1", n)
			}
			stale := 0.0
			for _, r := range []string{"r1", "r2", "r3"} {
				stale += testutil.ToFloat64(m.staleAnswers.WithLabelValues("v", r))
			}
			if stale != float64(answered) {
				t.Errorf("stale answers counted %v, want %d", stale, answered)
			}
			waitFor(t, func() bool { return testutil.ToFloat64(m.requests.WithLabelValues("v", "503")) == 1 },
				"the 503 was not counted in hedgegate_requests_total")
			if strategy == "quorum" && testutil.ToFloat64(m.quorumResults.WithLabelValues("v", "floor_unmet")) != 1 {
				t.Errorf("quorum result floor_unmet not counted")
			}
		})
	}
}

func TestBadFloorIs400(t *testing.T) {
	g := floorGateway(t, "hedge", "5")
	resp, body := g.do(t, "GET", "/v/a", nil, http.Header{"X-Min-Version": {"1", "2"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "X-Min-Version: send one version") {
		t.Errorf("two floors: %d %s, want 400", resp.StatusCode, body)
	}
}

func TestDebugReplicasShowsHowFarEachReplicaLags(t *testing.T) {
	g := floorGateway(t, "quorum", "1005", "1010", "998")
	g.do(t, "GET", "/v/a", nil, nil) // a quorum asks all three
	resp, err := http.Get(g.admin.URL + "/debug/replicas")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var rep struct {
		ReplicaSets []struct {
			Replicas []struct {
				Name    string            `json:"name"`
				Highest map[string]string `json:"highest_version"`
				Behind  map[string]uint64 `json:"versions_behind"`
			} `json:"replicas"`
		} `json:"replica_sets"`
		Legend map[string]string `json:"legend"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]any{"r1": {"1005", uint64(5)}, "r2": {"1010", uint64(0)}, "r3": {"998", uint64(12)}}
	for _, r := range rep.ReplicaSets[0].Replicas {
		if w := want[r.Name]; r.Highest["v"] != w[0] || r.Behind["v"] != w[1] || len(r.Highest) != 1 {
			t.Errorf("%s: highest %v behind %v, want %v on route v only", r.Name, r.Highest, r.Behind, w)
		}
	}
	if rep.Legend["versions_behind"] == "" || rep.Legend["highest_version"] == "" {
		t.Errorf("legend lacks the version fields")
	}
}
