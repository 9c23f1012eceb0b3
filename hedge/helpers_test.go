package hedge

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/quorum"
	"github.com/hedgegate/hedgegate/replicas"
)

// backend is a loopback replica whose behaviour a test scripts per call.
type backend struct {
	name      string
	srv       *httptest.Server
	calls     atomic.Int64
	cancelled atomic.Int64 // requests whose client went away before an answer
	bodies    chan string  // request bodies seen, when a test wants them
	// handle answers a call; nil: 200 "name".
	handle func(w http.ResponseWriter, r *http.Request) bool
}

// hang waits until the client goes away (or 10s, a bound for a broken test).
func hang(w http.ResponseWriter, r *http.Request) bool {
	select {
	case <-r.Context().Done():
		return false
	case <-time.After(10 * time.Second):
		return true
	}
}

// answerAfter answers like a default backend named name, but only once first has been
// called (or after 5s, a bound for a broken test). A test asserting that a loser saw
// its request cancelled needs that request to reach the loser before the winner
// answers; on a loaded machine a hedge 2ms behind can otherwise win first.
func answerAfter(first *backend, name string) func(http.ResponseWriter, *http.Request) bool {
	return answerAfterFunc(first, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Replica", name)
		fmt.Fprint(w, name)
	})
}

func answerAfterFunc(first *backend, answer func(http.ResponseWriter, *http.Request)) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		for i := 0; i < 500 && first.calls.Load() == 0; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		answer(w, r)
		return true
	}
}

func status(code int) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d", code)
		return true
	}
}

func newBackend(t *testing.T, name string, handle func(http.ResponseWriter, *http.Request) bool) *backend {
	t.Helper()
	b := &backend{name: name, handle: handle, bodies: make(chan string, 16)}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.calls.Add(1)
		if body, _ := io.ReadAll(r.Body); len(body) > 0 {
			select {
			case b.bodies <- string(body):
			default:
			}
		}
		if b.handle != nil && !b.handle(w, r) {
			b.cancelled.Add(1)
			return
		}
		if b.handle == nil {
			w.Header().Set("X-Replica", b.name)
			fmt.Fprint(w, b.name)
		}
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// deadURL is a loopback address with nothing listening: a refused connection.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// firstPicker picks candidates in the order given, so tests know which replica is
// primary.
type firstPicker struct{}

func (firstPicker) Pick(c []*replicas.Replica) *replicas.Replica {
	if len(c) == 0 {
		return nil
	}
	return c[0]
}

var _ replicas.Picker = firstPicker{}

// recorder is an Observer that counts what the engine reports.
type recorder struct {
	mu       sync.Mutex
	attempts map[string]int // "replica/kind"
	wins     int
	denied   int
	held     int
	quorum   map[string]int
	diverged map[string]int
	stale    map[string]int // per replica
	unmet    int
}

func newRecorder() *recorder {
	return &recorder{attempts: map[string]int{}, quorum: map[string]int{}, diverged: map[string]int{}, stale: map[string]int{}}
}

func (o *recorder) AttemptStarted(_, replica string, kind Kind) {
	o.mu.Lock()
	o.attempts[replica+"/"+kind.String()]++
	o.mu.Unlock()
}
func (o *recorder) HedgeWon(string)     { o.mu.Lock(); o.wins++; o.mu.Unlock() }
func (o *recorder) BudgetDenied(string) { o.mu.Lock(); o.denied++; o.mu.Unlock() }
func (o *recorder) HedgeHeld(string)    { o.mu.Lock(); o.held++; o.mu.Unlock() }
func (o *recorder) QuorumResult(_, result string) {
	o.mu.Lock()
	o.quorum[result]++
	o.mu.Unlock()
}
func (o *recorder) QuorumDivergence(_, replica string) {
	o.mu.Lock()
	o.diverged[replica]++
	o.mu.Unlock()
}

func (o *recorder) StaleAnswer(_, replica string) {
	o.mu.Lock()
	o.stale[replica]++
	o.mu.Unlock()
}
func (o *recorder) FloorUnmet(string) { o.mu.Lock(); o.unmet++; o.mu.Unlock() }

func (o *recorder) count(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.attempts[key]
}

// routeYAML builds a validated route through the real config decoder, so tests use
// the same defaults as users. extra is indented route YAML.
func testConfig(t testing.TB, urls []string, extra string) (*config.Config, *config.Route) {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("replica_sets:\n  s:\n    warm_connections: 0\n    replicas:\n")
	for i, u := range urls {
		fmt.Fprintf(&sb, "      - {name: r%d, url: %q}\n", i+1, u)
	}
	sb.WriteString("routes:\n  - name: rt\n    match: /kv/{key}\n    replica_set: s\n")
	for _, line := range strings.Split(strings.TrimSpace(extra), "\n") {
		if line != "" {
			sb.WriteString("    " + line + "\n")
		}
	}
	cfg, err := config.Parse([]byte(sb.String()), "test.yaml")
	if err != nil {
		t.Fatalf("config:\n%s\n%v", sb.String(), err)
	}
	return cfg, cfg.Routes[0]
}

func newTestPlan(t testing.TB, urls []string, extra string, opts Options) (*Plan, *replicas.Set) {
	t.Helper()
	cfg, rc := testConfig(t, urls, extra)
	set, err := replicas.NewSet("s", cfg.ReplicaSets["s"], cfg.Latency, opts.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(set.Close)
	if opts.Picker == nil {
		opts.Picker = firstPicker{}
	}
	if opts.MinSamples == 0 {
		opts.MinSamples = cfg.Latency.MinSamples
	}
	plan, err := NewPlan(rc, set, opts)
	if err != nil {
		t.Fatal(err)
	}
	return plan, set
}

func get(t testing.TB, path string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://gateway.invalid"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// quorumFloor is a quorum plan's monotonic floor (nil for other plans).
func quorumFloor(p *Plan) *quorum.Floor {
	if q, ok := p.strategy.(*quorumStrategy); ok {
		return q.floor
	}
	return nil
}
