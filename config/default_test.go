package config

import (
	"reflect"
	"testing"
)

// Default must give what a file that leaves every optional key out gets, or a plan
// built in Go (hedge.New) would drift from one read from a file.
func TestDefaultIsWhatAFileLeavingKeysOutGets(t *testing.T) {
	parsed, err := Parse([]byte(`replica_sets:
  s:
    replicas:
      - {name: a, url: "http://127.0.0.1:1"}
      - {name: b, url: "http://127.0.0.1:2"}
      - {name: c, url: "http://127.0.0.1:3"}
routes:
  - {name: r, match: /x, replica_set: s}
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := Default("s", 3)
	d.ReplicaSets["s"].Replicas = parsed.ReplicaSets["s"].Replicas
	d.Routes[0].Name, d.Routes[0].Match = "r", "/x"
	d.Source, d.lines = parsed.Source, parsed.lines
	if !reflect.DeepEqual(d, parsed) {
		t.Errorf("Default:\n%+v\n%+v\n%+v\nparsed:\n%+v\n%+v\n%+v", d, d.ReplicaSets["s"], d.Routes[0],
			parsed, parsed.ReplicaSets["s"], parsed.Routes[0])
	}
	if err := d.Validate(); err != nil {
		t.Errorf("Default with names, URLs and a match filled in: %v", err)
	}
}
