package hedge

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
)

// settings are what a plan was built with, to compare plans from Go and from files.
type settings struct {
	Strategy     string
	Mode         attemptMode
	Delays       percentileDelay
	Fanout, Read int
	Ratio, Floor float64
	Backoff      [2]time.Duration
	Timeout      time.Duration
	AutoTimeout  bool
	FixedTimeout time.Duration
	MaxBody      int64
	Retry        retryPolicy
	Version      config.Version
	MinHeader    string
	Versioned    bool
}

func settingsOf(p *Plan) settings {
	s := settings{
		Strategy: p.strategyName, Mode: p.mode, Delays: *p.delays.(*percentileDelay),
		Ratio: p.budget.ratio, Floor: p.budget.floor,
		Backoff: [2]time.Duration{p.backoff.base, p.backoff.max},
		Timeout: p.timeout, AutoTimeout: p.autoTimeout, FixedTimeout: p.fixedTimeout,
		MaxBody: p.maxBody, Retry: p.retry,
	}
	if v := p.version; v != nil {
		s.Version, s.MinHeader, s.Versioned = v.cfg, v.header, true
	}
	switch st := p.strategy.(type) {
	case *parallelStrategy:
		s.Fanout = st.fanout
	case *quorumStrategy:
		s.Read = st.base.Read
	}
	return s
}

func newPlan(t *testing.T, c Config) *Plan {
	t.Helper()
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// A plan built in Go with zero values must be the plan a config file gets when it
// leaves the same keys out: one set of defaults, none taken literally as zero.
func TestNewZeroValuesAreTheConfigDefaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		c     Config
		route string // the same plan as config file keys
	}{
		{"hedge", Config{}, ""},
		{"hedge settings", Config{Strategy: Hedge{Percentile: 90, MaxDelay: 50 * time.Millisecond, MaxAttempts: 2}},
			"hedge: {percentile: 90, max_delay: 50ms, max_attempts: 2}"},
		{"parallel", Config{Strategy: Parallel{}}, "strategy: parallel"},
		{"quorum", Config{Strategy: Quorum{Version: config.Version{Header: "X-Version"}, Latest: true}},
			"strategy: quorum\nquorum: {version: {header: X-Version}, conflict: latest}"},
		{"timeouts", Config{Timeout: 300 * time.Millisecond, AttemptTimeout: 50 * time.Millisecond},
			"timeout: 300ms\nattempt_timeout: 50ms"},
		{"no budget, no retries", Config{Budget: &config.Budget{}, Retry: Retry{On: []string{}}},
			"budget: {ratio: 0, min_per_second: 0}\nretry: {on: []}"},
		{"retry settings", Config{Retry: Retry{On: []string{"reset", "404"}, BackoffMax: 20 * time.Millisecond}},
			"retry: {on: [reset, \"404\"], backoff_max: 20ms}"},
		{"a version", Config{Version: &config.Version{JSONPointer: "/rev"}}, "version: {json_pointer: /rev}"},
		{"a version and its floor header", Config{Strategy: Parallel{}, Version: &config.Version{}, MinVersionHeader: "X-Token"},
			"strategy: parallel\nversion: {}\nmin_version_header: X-Token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			urls := []string{"http://a.test", "http://b.test", "http://c.test"}
			tc.c.Replicas = urls
			fromFile, _ := newTestPlan(t, urls, tc.route, Options{})
			got, want := settingsOf(newPlan(t, tc.c)), settingsOf(fromFile)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("from Go:\n%+v\nfrom a file:\n%+v", got, want)
			}
		})
	}
}

func TestNewRefusesWhatValidateRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"no replicas", Config{}, "Config.Replicas is empty"},
		{"not a URL", Config{Replicas: []string{"127.0.0.1:9101"}}, "replicas[0].url:"},
		{"percentile", Config{Replicas: []string{"http://a.test"}, Strategy: Hedge{Percentile: 150}},
			"hedge.percentile: 150 is outside (0,100)"},
		{"fanout above the replicas", Config{Replicas: []string{"http://a.test"}, Strategy: Parallel{Fanout: 3}},
			"parallel.fanout: 3 exceeds the 1 replicas"},
		{"attempt timeout above the timeout", Config{Replicas: []string{"http://a.test"}, AttemptTimeout: 2 * time.Second},
			"attempt_timeout: 2s exceeds timeout (1s)"},
		{"unknown retry condition", Config{Replicas: []string{"http://a.test"}, Retry: Retry{On: []string{"sometimes"}}},
			`retry.on[0]: unknown retry condition "sometimes"`},
		{"a floor header without a version", Config{Replicas: []string{"http://a.test"}, MinVersionHeader: "X-Token"},
			"min_version_header: needs a version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.c)
			if err == nil {
				p.Close()
				t.Fatal("New accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestNewPlanServesAndNamesReplicasByURL(t *testing.T) {
	slow, fast := newBackend(t, "slow", hang), newBackend(t, "fast", nil)
	p := newPlan(t, Config{Replicas: urls(slow, fast), Picker: firstPicker{},
		Strategy: Hedge{InitialDelay: 5 * time.Millisecond}})
	body, res, err := do(t, p, get(t, "/kv/a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if body != "fast" || res.Replica != fast.srv.URL || res.Kind != KindHedge {
		t.Errorf("served %q from %s (%v), want the hedge to %s", body, res.Replica, res.Kind, fast.srv.URL)
	}
}

func TestTransportAppliesThePlansTimeout(t *testing.T) {
	stuck := newBackend(t, "stuck", hang)
	p := newPlan(t, Config{Replicas: urls(stuck), Timeout: 50 * time.Millisecond})
	client := &http.Client{Transport: &Transport{Plan: p}}
	_, err := client.Get("http://plan.invalid/kv/a")
	var e *Error
	if !errors.As(err, &e) || e.Outcome != OutcomeDeadline {
		t.Fatalf("got %v, want the plan's 50ms deadline (OutcomeDeadline)", err)
	}
	waitFor(t, func() bool { return stuck.cancelled.Load() == 1 }, "the stuck attempt outlived the deadline")
}

// Transport: every answer carries its version, a request's X-Min-Version header is a
// floor, and a floor nobody reaches is an *Error the client can tell apart.
func TestTransportCarriesVersionsAndFloors(t *testing.T) {
	r1, r2 := newBackend(t, "r1", versioned("r1", "5")), newBackend(t, "r2", versioned("r2", "7"))
	p := newPlan(t, Config{Replicas: urls(r1, r2), Picker: firstPicker{}, Version: &config.Version{Header: "X-Version"}})
	client := &http.Client{Transport: &Transport{Plan: p}}
	read := func(floor string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, "http://plan.invalid/kv/a", nil)
		if floor != "" {
			req.Header.Set("X-Min-Version", floor)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	if resp, err := read(""); err != nil || resp.Header.Get(VersionHeader) != "5" {
		t.Fatalf("no floor: %v %v, want r1's version 5 in %s", resp, err, VersionHeader)
	}
	if resp, err := read("6"); err != nil || resp.Header.Get(VersionHeader) != "7" {
		t.Fatalf("floor 6: %v %v, want r2's 7", resp, err)
	}
	_, err := read("8")
	var e *Error
	if !errors.As(err, &e) || e.Outcome != OutcomeFloorUnmet || e.MinVersion != "8" {
		t.Fatalf("floor 8: %v, want OutcomeFloorUnmet", err)
	}
}
