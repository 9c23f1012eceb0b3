package config

import (
	"encoding/json"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestEveryProblemReported(t *testing.T) {
	const src = `listen: nowhere
replica_sets:
  kv:
    replicas:
      - {name: r1, url: "ftp://a"}
      - {name: "", url: "http://b:1"}
routes:
  - name: a
    match: kv
    replica_set: kvv
    strategy: fastest
    timeout: 10 ms
    hedge: {percentil: 95, max_attempts: 11}
  - name: a
    match: /b
    replica_set: kv
    retry: {backoff_base: 1s, backoff_max: 1ms}
`
	_, err := Parse([]byte(src), "m.yaml")
	want := []string{
		`m.yaml:1: listen: want host:port: address nowhere: missing port in address`,
		`m.yaml:5: replica_sets.kv.replicas[0].url: "ftp://a": want an absolute http:// or https:// URL`,
		`m.yaml:6: replica_sets.kv.replicas[1].name: required`,
		`m.yaml:9: routes[0].match: "kv" must start with "/"`,
		`m.yaml:10: routes[0].replica_set: no replica set "kvv" (have: kv)`,
		`m.yaml:11: routes[0].strategy: unknown strategy "fastest" (want hedge, parallel or quorum)`,
		`m.yaml:12: routes[0].timeout: bad duration "10 ms": want a number and a unit, such as 250ms, 1s or 2m`,
		`m.yaml:13: routes[0].hedge.percentil: unknown key "percentil" (did you mean "percentile"?)`,
		`m.yaml:13: routes[0].hedge.max_attempts: must be in [1,10], got 11`,
		`m.yaml:14: routes[1].name: duplicate route name "a" (first at routes[0])`,
		`m.yaml:17: routes[1].retry.backoff_base: 1s exceeds backoff_max (1ms)`,
	}
	if got := problemLines(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestMissingEverything(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n", "---\n"} {
		_, err := Parse([]byte(src), "e.yaml")
		want := []string{
			"e.yaml:1: replica_sets: at least one replica set is required",
			"e.yaml:1: routes: at least one route is required",
		}
		if got := problemLines(t, err); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %q", src, got)
		}
	}
	_, err := Parse([]byte("- a\n"), "e.yaml")
	if got := problemLines(t, err)[0]; got != `e.yaml:1: want a mapping of settings, got a list` {
		t.Errorf("list at top: %q", got)
	}
	_, err = Parse([]byte(base+"---\nlisten: :1\n"), "e.yaml")
	if got := problemLines(t, err)[0]; got != `e.yaml:14: yaml: a second document; a config file holds one` {
		t.Errorf("two documents: %q", got)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(`replica_sets:
  kv:
    replicas:
      - {name: r1, url: "http://127.0.0.1:9101"}
      - {name: r2, url: "http://127.0.0.1:9102"}
      - {name: r3, url: "http://127.0.0.1:9103"}
      - {name: r4, url: "http://127.0.0.1:9104"}
routes:
  - {name: a, match: /a, replica_set: kv}
`), "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := *c.Routes[0]
	want := Route{
		Name: "a", Match: "/a", ReplicaSet: "kv",
		Methods:        []string{"GET", "HEAD"},
		Strategy:       StrategyHedge,
		Timeout:        Duration(time.Second),
		AttemptTimeout: AttemptTimeout{Auto: true},
		Hedge: Hedge{Percentile: HedgePercentile{Fixed: 95}, InitialDelay: Duration(10 * time.Millisecond),
			MinDelay: Duration(time.Millisecond), MaxDelay: Duration(200 * time.Millisecond), MaxAttempts: 3},
		Parallel: Parallel{Fanout: 2},
		Quorum:   Quorum{Read: 3, Conflict: ConflictMajority, Monotonic: Monotonic{MaxKeys: 100000}},
		Retry: Retry{On: []string{"connect_failure", "reset", "timeout", "5xx"},
			BackoffBase: Duration(2 * time.Millisecond), BackoffMax: Duration(50 * time.Millisecond)},
		Budget: Budget{Ratio: 0.1, MinPerSecond: 10},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("route defaults:\n got %+v\nwant %+v", got, want)
	}
	if c.Listen != "127.0.0.1:8080" || c.AdminListen != "127.0.0.1:9901" {
		t.Errorf("listeners %q %q", c.Listen, c.AdminListen)
	}
	if l := (Limits{4096, 1 << 20, 8 << 20, 64 << 10}); c.Limits != l {
		t.Errorf("limits %+v, want %+v", c.Limits, l)
	}
	if l := (Latency{Duration(10 * time.Second), 6, 50}); c.Latency != l {
		t.Errorf("latency %+v, want %+v", c.Latency, l)
	}
	if rs := c.ReplicaSets["kv"]; rs.ConnectTimeout != Duration(200*time.Millisecond) || rs.WarmConnections != 2 {
		t.Errorf("replica set %+v", rs)
	}
}

func TestExplicitZerosKept(t *testing.T) {
	c, err := Parse([]byte(`replica_sets:
  kv:
    warm_connections: 0
    replicas:
      - {name: r1, url: "http://127.0.0.1:9101"}
routes:
  - name: a
    match: /a
    replica_set: kv
    hedge: {initial_delay: 0, min_delay: 0s}
    retry: {on: []}
    budget: {ratio: 0, min_per_second: 0}
`), "z.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Routes[0]
	if c.ReplicaSets["kv"].WarmConnections != 0 {
		t.Error("warm_connections: 0 replaced")
	}
	if r.Budget.Ratio != 0 || r.Budget.MinPerSecond != 0 {
		t.Errorf("budget zeros replaced: %+v", r.Budget)
	}
	if r.Retry.On == nil || len(r.Retry.On) != 0 {
		t.Errorf("retry.on: [] became %#v", r.Retry.On)
	}
	if r.Hedge.InitialDelay != 0 || r.Hedge.MinDelay != 0 {
		t.Errorf("hedge zeros replaced: %+v", r.Hedge)
	}
}

func TestDesignExample(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "design.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Route("kv-get")
	if r == nil || r.Quorum.Version.Header != "X-Version" || !r.Quorum.Monotonic.Enabled || r.Quorum.Read != 2 {
		t.Errorf("route %+v", r)
	}
	if c.Route("nope") != nil {
		t.Error("Route(nope) != nil")
	}
	if c.Source != filepath.Join("testdata", "design.yaml") {
		t.Errorf("Source %q", c.Source)
	}
}

func TestExampleFile(t *testing.T) {
	c, err := Load(filepath.Join("..", "examples", "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ReplicaSets) != 1 || c.Routes[0].Match != "/kv/{key}" || c.Routes[0].Strategy != StrategyHedge {
		t.Errorf("examples/gateway.yaml is not the quickstart's hedge route: %+v", c.Routes[0])
	}
}

func TestLine(t *testing.T) {
	c, err := Parse([]byte(base), "b.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{
		"replica_sets":                    1,
		"replica_sets.kv":                 2,
		"replica_sets.kv.replicas[0]":     4,
		"replica_sets.kv.replicas[0].url": 4,
		"routes[0]":                       6,
		"routes[0].timeout":               10,
		"routes[0].hedge.percentile":      12,
		"routes[0].hedge.max_attempts":    0, // defaulted
		"":                                0,
	} {
		if got := c.Line(path); got != want {
			t.Errorf("Line(%q) = %d, want %d", path, got, want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasSuffix(err.Error(), "none.yaml: no such file or directory") {
		t.Errorf("missing file: %v", err)
	}
	_, err = Parse([]byte("routes: [\n"), "s.yaml")
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 || ps[0].Line == 0 || ps[0].Path != "" || !strings.HasPrefix(ps[0].Message, "yaml: ") {
		t.Errorf("syntax error: %#v", err)
	}
}

func TestProblemString(t *testing.T) {
	for _, tt := range []struct {
		p    Problem
		want string
	}{
		{Problem{"f.yaml", 3, "routes[0].name", "required"}, "f.yaml:3: routes[0].name: required"},
		{Problem{"f.yaml", 0, "", "yaml: x"}, "f.yaml: yaml: x"},
		{Problem{"", 3, "listen", "bad"}, "line 3: listen: bad"},
	} {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%#v: %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	c, err := Parse([]byte(`replica_sets:
  kv:
    replicas:
      - {name: r1, url: "http://127.0.0.1:9101"}
      - {name: r2, url: "http://127.0.0.1:9102"}
routes:
  - &kv
    name: kv-get
    match: /kv/{key}
    replica_set: kv
    hedge: &hedge {percentile: 90, max_attempts: 2}
  - <<: *kv
    name: kv-get-fast
    match: /fast/kv/{key}
    hedge: {<<: *hedge, percentile: 50}
`), "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Route("kv-get-fast")
	if r.ReplicaSet != "kv" || r.Hedge.Percentile != (HedgePercentile{Fixed: 50}) || r.Hedge.MaxAttempts != 2 || r.Hedge.MaxDelay != Duration(200*time.Millisecond) {
		t.Errorf("merged route %+v", r)
	}
	_, err = Parse([]byte("<<: {lisen: x}\n"), "a.yaml")
	if got := problemLines(t, err)[0]; got != `a.yaml:1: lisen: unknown key "lisen" (did you mean "listen"?)` {
		t.Errorf("unknown merged key: %q", got)
	}
}

func TestDurationCodecs(t *testing.T) {
	var d Duration
	if err := yaml.Unmarshal([]byte(`"1m30s"`), &d); err != nil || d != Duration(90*time.Second) {
		t.Errorf("yaml: %v %v", d, err)
	}
	b, err := json.Marshal(struct {
		D Duration
		A AttemptTimeout
		F AttemptTimeout
	}{Duration(250 * time.Millisecond), AttemptTimeout{Auto: true}, AttemptTimeout{Fixed: time.Second}})
	if err != nil || string(b) != `{"D":"250ms","A":"auto","F":"1s"}` {
		t.Errorf("json: %s %v", b, err)
	}
	var a AttemptTimeout
	if err := json.Unmarshal([]byte(`"auto"`), &a); err != nil || !a.Auto {
		t.Errorf("json auto: %+v %v", a, err)
	}
	if err := json.Unmarshal([]byte(`"5 s"`), &d); err == nil {
		t.Error("json accepted a bad duration")
	}
}

// A parsed config, marshalled back to YAML, parses to the same config: every
// default is written out, durations keep their exact value.
func TestMarshalRoundTrip(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "design.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, c)
}

func checkRoundTrip(t *testing.T, c *Config) {
	t.Helper()
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	c2, err := Parse(out, "again.yaml")
	if err != nil {
		t.Fatalf("re-parse of\n%s\nfailed: %v", out, err)
	}
	a, b := *c, *c2
	a.lines, b.lines, a.Source, b.Source = nil, nil, "", ""
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("round trip changed the config:\n%s", out)
	}
}

// Nested merge keys that would expand to 8^8 entries are expanded once each.
func TestMergeBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 {listen: x}\n")
	for i := 1; i < 8; i++ {
		p := "*a" + string(rune('0'+i-1))
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " {<<: [" +
			strings.Repeat(p+", ", 7) + p + "]}\n")
	}
	b.WriteString("<<: *a7\n")
	if _, err := Parse([]byte(b.String()), "bomb.yaml"); err == nil {
		t.Fatal("accepted")
	}
}
