package config

import (
	"errors"
	"strings"
	"testing"
)

// base is a small valid config; cases below change one line of it. Line numbers:
//
//	1 replica_sets:    5 routes:          9 strategy: hedge
//	2   kv:            6   - name: kv-get 10 timeout: 1s
//	3     replicas:    7     match: ...   11 hedge:
//	4       - ...      8     replica_set  12   percentile: 95
const base = `replica_sets:
  kv:
    replicas:
      - {name: r1, url: "http://127.0.0.1:9101"}
routes:
  - name: kv-get
    match: /kv/{key}
    replica_set: kv
    strategy: hedge
    timeout: 1s
    hedge:
      percentile: 95
`

func edit(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(base, old) {
		t.Fatalf("base has no %q", old)
	}
	return strings.Replace(base, old, new, 1)
}

func problemLines(t *testing.T, err error) []string {
	t.Helper()
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %v (%T) is not Problems", err, err)
	}
	return strings.Split(ps.Error(), "\n")
}

func TestParseBase(t *testing.T) {
	if _, err := Parse([]byte(base), "base.yaml"); err != nil {
		t.Fatal(err)
	}
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     string
	}{
		{"percentile 150", "percentile: 95", "percentile: 150",
			`x.yaml:12: routes[0].hedge.percentile: 150 is outside (0,100)`},
		{"unknown strategy", "strategy: hedge", "strategy: fastest",
			`x.yaml:9: routes[0].strategy: unknown strategy "fastest" (want hedge, parallel or quorum)`},
		{"bad duration", "timeout: 1s", "timeout: 10 ms",
			`x.yaml:10: routes[0].timeout: bad duration "10 ms": want a number and a unit, such as 250ms, 1s or 2m`},
		{"bare number duration", "timeout: 1s", "timeout: 10",
			`x.yaml:10: routes[0].timeout: bad duration "10": a number needs a unit, such as 10ms or 10s`},
		{"negative duration", "timeout: 1s", "timeout: -1s",
			`x.yaml:10: routes[0].timeout: bad duration "-1s": must not be negative`},
		{"missing replica set", "replica_set: kv", "replica_set: kvv",
			`x.yaml:8: routes[0].replica_set: no replica set "kvv" (have: kv)`},
		{"replica set not given", "    replica_set: kv\n", "",
			`x.yaml:6: routes[0].replica_set: required (have: kv)`},
		{"misspelled key", "percentile: 95", "percentil: 95",
			`x.yaml:12: routes[0].hedge.percentil: unknown key "percentil" (did you mean "percentile"?)`},
		{"unknown key far from any", "percentile: 95", "colour: blue",
			`x.yaml:12: routes[0].hedge.colour: unknown key "colour"`},
		{"non-http URL", "http://127.0.0.1:9101", "ftp://127.0.0.1:9101",
			`x.yaml:4: replica_sets.kv.replicas[0].url: "ftp://127.0.0.1:9101": want an absolute http:// or https:// URL`},
		{"relative URL", "http://127.0.0.1:9101", "/kv",
			`x.yaml:4: replica_sets.kv.replicas[0].url: "/kv": want an absolute http:// or https:// URL`},
		{"URL with query", "http://127.0.0.1:9101", "http://h:1/?a=b",
			`x.yaml:4: replica_sets.kv.replicas[0].url: "http://h:1/?a=b" has a query; a replica URL is a base that request paths are appended to`},
		// yaml.v3 names the line where the construct it could not finish began.
		{"YAML syntax error", "    timeout: 1s", "    timeout: [1s",
			`x.yaml:10: yaml: did not find expected ',' or ']'`},
		{"YAML bad indentation", "    strategy: hedge", "   strategy: hedge",
			`x.yaml:6: yaml: did not find expected '-' indicator`},
		{"wrong type", "percentile: 95", "percentile: high",
			`x.yaml:12: routes[0].hedge.percentile: want a number in (0,100) or auto, got "high"`},
		{"mapping for scalar", "timeout: 1s", "timeout: {s: 1}",
			`x.yaml:10: routes[0].timeout: want a duration such as 250ms, got a mapping`},
		{"duplicate key", "timeout: 1s", "timeout: 1s\n    timeout: 2s",
			`x.yaml:11: routes[0].timeout: duplicate key "timeout" (first at line 10)`},
		{"empty retry list needs brackets", "timeout: 1s", "timeout: 1s\n    retry: {on: }",
			`x.yaml:11: routes[0].retry.on: no value (write [] for an empty list, or remove the key to use the default)`},
		{"attempt timeout over timeout", "timeout: 1s", "timeout: 1s\n    attempt_timeout: 2s",
			`x.yaml:11: routes[0].attempt_timeout: 2s exceeds timeout (1s)`},
		{"parallel fanout over replicas", "strategy: hedge", "strategy: parallel\n    parallel: {fanout: 3}",
			`x.yaml:10: routes[0].parallel.fanout: 3 exceeds the 1 replicas of set "kv"`},
		{"quorum read over replicas", "strategy: hedge", "strategy: quorum\n    quorum: {read: 2}",
			`x.yaml:10: routes[0].quorum.read: 2 exceeds the 1 replicas of set "kv"`},
		{"quorum latest without version", "strategy: hedge", "strategy: quorum\n    quorum: {conflict: latest}",
			`x.yaml:10: routes[0].quorum.conflict: latest needs version.header or version.json_pointer (a body hash has no order)`},
		{"missing version without a source", "strategy: hedge", "strategy: quorum\n    quorum: {version: {missing: \"0\"}}",
			`x.yaml:10: routes[0].quorum.version.missing: needs version.header or version.json_pointer (a body hash always exists)`},
		{"json pointer", "strategy: hedge", "strategy: quorum\n    quorum: {version: {json_pointer: /a~2b}}",
			`x.yaml:10: routes[0].quorum.version.json_pointer: "/a~2b": "~" must be followed by 0 or 1 (RFC 6901)`},
		{"both version sources", "strategy: hedge", "strategy: quorum\n    quorum:\n      version: {header: ETag, json_pointer: /v}",
			`x.yaml:11: routes[0].quorum.version: set header or json_pointer, not both`},
		{"retry condition", "timeout: 1s", "timeout: 1s\n    retry: {on: [5xx, 200, 4xx]}",
			"x.yaml:11: routes[0].retry.on[1]: status 200 is not an error (want 400-599)\n" +
				`x.yaml:11: routes[0].retry.on[2]: unknown retry condition "4xx" (want connect_failure, reset, timeout, 5xx or a status code 400-599)`},
		{"lowercase method", "timeout: 1s", "timeout: 1s\n    methods: [get]",
			`x.yaml:11: routes[0].methods[0]: "get" must be uppercase (GET): methods are case-sensitive`},
		{"strip prefix", "timeout: 1s", "timeout: 1s\n    strip_prefix: /kv/",
			`x.yaml:11: routes[0].strip_prefix: "/kv/" must not end with "/" (the replica path keeps its leading slash)`},
		{"budget ratio", "timeout: 1s", "timeout: 1s\n    budget:\n      ratio: 1.5",
			`x.yaml:12: routes[0].budget.ratio: must be in [0,1], got 1.5`},
		{"listeners collide", "replica_sets:", "listen: :8080\nadmin_listen: 0.0.0.0:8080\nreplica_sets:",
			`x.yaml:2: admin_listen: "0.0.0.0:8080" collides with listen ":8080"`},
		{"latency buckets", "replica_sets:", "latency: {buckets: 61}\nreplica_sets:",
			`x.yaml:1: latency.buckets: must be in [1,60], got 61`},
		{"duplicate replica", "      - {name: r1, url: \"http://127.0.0.1:9101\"}",
			"      - {name: r1, url: \"http://127.0.0.1:9101\"}\n      - {name: r1, url: \"http://127.0.0.1:9102\"}",
			`x.yaml:5: replica_sets.kv.replicas[1].name: duplicate replica name "r1" (first at replicas[0])`},
		{"quoted set name in path", "  kv:", "  k.v:\n    warm_connections: -1\n  kv:",
			"x.yaml:2: replica_sets[\"k.v\"].replicas: at least one replica is required (or discovery, to find them in DNS)\n" +
				"x.yaml:3: replica_sets[\"k.v\"].warm_connections: must be ≥ 0, got -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(edit(t, tt.old, tt.new)), "x.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// Two routes with one pattern and a method in common: the later one names the line of
// the earlier (the server's router check covers patterns chi does not tell apart).
func TestSamePatternSameMethodNamesBothLines(t *testing.T) {
	_, err := Parse([]byte(base+"  - {name: again, match: \"/kv/{key}\", methods: [HEAD], replica_set: kv}\n"), "x.yaml")
	want := `x.yaml:13: routes[1].match: routes[0] (line 7) already serves HEAD /kv/{key}; the router keeps only one`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// A replica URL's password never appears in a problem, parsable URL or not.
func TestURLProblemsRedactThePassword(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"ftp://gw:s3cret@h:1", `x.yaml:4: replica_sets.kv.replicas[0].url: "ftp://gw:xxxxx@h:1": want an absolute http:// or https:// URL`},
		{"http://gw:s3cret@h:bad", `x.yaml:4: replica_sets.kv.replicas[0].url: bad URL: parse "http://gw:xxxxx@h:bad": invalid port ":bad" after host`},
		{"http://gw:s3cret@h:1/?q", `x.yaml:4: replica_sets.kv.replicas[0].url: "http://gw:xxxxx@h:1/?q" has a query; a replica URL is a base that request paths are appended to`},
	} {
		_, err := Parse([]byte(edit(t, "http://127.0.0.1:9101", tt.url)), "x.yaml")
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s:\n got %v\nwant %s", tt.url, err, tt.want)
		}
	}
	if got := RedactURL("http://u:p@h:x x/p"); got != "http://u:xxxxx@h:x x/p" {
		t.Errorf("RedactURL of an unparsable URL = %q", got)
	}
}
