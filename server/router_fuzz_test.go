package server

import (
	"errors"
	"testing"

	"github.com/hedgegate/hedgegate/config"
)

// FuzzRoutePatterns drives pairs of route patterns through the router's compile step:
// no panic escapes it, and gateway validate (config validation, then CheckRoutes) and
// serve (New) accept exactly the same configs, with the same problems.
func FuzzRoutePatterns(f *testing.F) {
	for _, seed := range [][2]string{
		{"/kv/{key}", "/kv/{id}"},
		{"/kv/{key:[a-}", "/ok"},
		{"/kv/{key}/{key}", "/x/*"},
		{"/n/{a:[0-9]+}", "/n/{b:^[0-9]+$}"},
		{"/a/{x}.json", "/a/{y}.json"},
		{"/a/*", "/a/{*}"},
		{"/{a:(}", "/{b:}"},
	} {
		f.Add(seed[0], seed[1], true)
	}
	f.Fuzz(func(t *testing.T, first, second string, sameMethods bool) {
		cfg, err := config.Parse([]byte(`replica_sets:
  a: {warm_connections: 0, replicas: [{name: r1, url: "http://127.0.0.1:1"}]}
routes:
  - {name: one, match: /one, methods: [GET], replica_set: a}
  - {name: two, match: /two, methods: [GET], replica_set: a}
`), "f.yaml")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Routes[0].Match, cfg.Routes[1].Match = first, second
		if !sameMethods {
			cfg.Routes[1].Methods = []string{"POST"}
		}
		if cfg.Validate() != nil {
			return // config validation refuses it before the router sees it
		}
		checked := CheckRoutes(cfg)
		_, err = New(cfg, Options{Logger: quietLogger()})
		var built config.Problems
		if err != nil && !errors.As(err, &built) {
			t.Fatalf("New failed with %v, not with config problems", err)
		}
		if checked.Error() != built.Error() || (checked == nil) != (built == nil) {
			t.Fatalf("validate and serve disagree on %q, %q:\nvalidate: %v\nserve:    %v", first, second, checked, built)
		}
	})
}
