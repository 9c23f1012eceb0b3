package config

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestHedgeAutoForms(t *testing.T) {
	for _, tc := range []struct {
		name string
		auto string
		want HedgeAuto
	}{
		{"target and cap", "{target_p99: 12ms, max_extra_load: 0.1}",
			HedgeAuto{TargetP99: Duration(12 * time.Millisecond), MaxExtraLoad: 0.1}},
		{"cap alone", "{max_extra_load: 0.05}", HedgeAuto{MaxExtraLoad: 0.05}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(edit(t, "percentile: 95", "percentile: auto\n      auto: "+tc.auto)), "a.yaml")
			if err != nil {
				t.Fatal(err)
			}
			h := c.Routes[0].Hedge
			if h.Percentile != (HedgePercentile{Auto: true}) || h.Auto != tc.want {
				t.Errorf("hedge %+v, want percentile auto and %+v", h, tc.want)
			}
		})
	}
}

// TestHedgeAutoProblems: every nonsense goal is refused with its field path, the
// budget included: a cap the budget cannot fund would be a promise the gateway
// silently breaks.
func TestHedgeAutoProblems(t *testing.T) {
	for _, tc := range []struct {
		name, old, new string
		want           []string
	}{
		{"auto without a goal", "percentile: 95", "percentile: auto",
			[]string{`x.yaml:12: routes[0].hedge.percentile: auto needs a goal in hedge.auto: {max_extra_load: 0.05} or {target_p99: 10ms, max_extra_load: 0.2}`}},
		{"target without a cap", "percentile: 95", "percentile: auto\n      auto: {target_p99: 10ms}",
			[]string{`x.yaml:13: routes[0].hedge.auto.max_extra_load: required with target_p99: the most extra load auto may spend to meet it`}},
		{"cap above the budget", "percentile: 95", "percentile: auto\n      auto: {target_p99: 10ms, max_extra_load: 0.2}",
			[]string{`x.yaml:13: routes[0].hedge.auto.max_extra_load: 0.2 exceeds budget.ratio (0.1): the budget could not fund it`}},
		{"cap out of range", "percentile: 95", "percentile: auto\n      auto: {max_extra_load: -0.1}",
			[]string{`x.yaml:13: routes[0].hedge.auto.max_extra_load: must be in (0,1], got -0.1`}},
		{"target past the timeout", "percentile: 95", "percentile: auto\n      auto: {target_p99: 1s, max_extra_load: 0.05}",
			[]string{`x.yaml:13: routes[0].hedge.auto.target_p99: 1s is not below timeout (1s)`}},
		{"explicit zero target", "percentile: 95", "percentile: auto\n      auto: {target_p99: 0s, max_extra_load: 0.05}",
			[]string{`x.yaml:13: routes[0].hedge.auto.target_p99: must be > 0 (leave it out for the max_extra_load form)`}},
		{"a goal with a fixed percentile", "percentile: 95", "percentile: 95\n      auto: {max_extra_load: 0.05}",
			[]string{`x.yaml:13: routes[0].hedge.auto: is read only with percentile: auto (percentile is 95)`}},
		{"one bucket", "replica_sets:", "latency: {buckets: 1}\nreplica_sets:",
			nil}, // fine with a fixed percentile
		{"misspelled auto", "percentile: 95", "percentile: automatic",
			[]string{`x.yaml:12: routes[0].hedge.percentile: want a number in (0,100) or auto, got "automatic"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(edit(t, tc.old, tc.new)), "x.yaml")
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if got := problemLines(t, err); !slices.Equal(got, tc.want) {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}

	src := strings.Replace(base, "replica_sets:", "latency: {buckets: 1}\nreplica_sets:", 1)
	src = strings.Replace(src, "percentile: 95", "percentile: auto\n      auto: {max_extra_load: 0.05}", 1)
	_, err := Parse([]byte(src), "x.yaml")
	want := `x.yaml:13: routes[0].hedge.percentile: auto needs latency.buckets ≥ 2: it tunes from the last complete windows, and with 1 bucket none is kept`
	if got := problemLines(t, err); !slices.Equal(got, []string{want}) {
		t.Errorf("one bucket with auto: got %q, want %q", got, want)
	}
}

// TestHedgePercentileCodecs: /debug/config shows "auto" or the number, and a
// marshalled config parses back to the same percentile and goal.
func TestHedgePercentileCodecs(t *testing.T) {
	for _, p := range []HedgePercentile{{Auto: true}, {Fixed: 97.5}} {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back HedgePercentile
		if err := json.Unmarshal(b, &back); err != nil || back != p {
			t.Errorf("JSON %s: back %+v, %v; want %+v", b, back, err, p)
		}
	}
	src := edit(t, "percentile: 95", "percentile: auto\n      auto: {target_p99: 12ms, max_extra_load: 0.1}")
	c, err := Parse([]byte(src), "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(out, "again.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got, want := again.Routes[0].Hedge, c.Routes[0].Hedge; got != want {
		t.Errorf("round trip: %+v, want %+v", got, want)
	}
}
