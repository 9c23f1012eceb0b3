package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestRouteVersionAndFloorHeader(t *testing.T) {
	tests := []struct {
		name       string
		old, new   string
		response   *Version // nil: the route has no version
		agreement  Version
		headerWant string
	}{
		{"no version: no floor header", "strategy: hedge", "strategy: hedge",
			nil, Version{}, ""},
		{"a hedge route with a header version gets X-Min-Version", "strategy: hedge",
			"strategy: hedge\n    version: {header: X-Version}",
			&Version{Header: "X-Version"}, Version{Header: "X-Version"}, "X-Min-Version"},
		{"version {} is the body hash", "strategy: hedge", "strategy: hedge\n    version: {}",
			&Version{}, Version{}, "X-Min-Version"},
		{"a quorum route's version is quorum.version", "strategy: hedge",
			"strategy: quorum\n    quorum: {read: 1, version: {json_pointer: /v}}",
			&Version{JSONPointer: "/v"}, Version{JSONPointer: "/v"}, "X-Min-Version"},
		{"a quorum route without any version has the body hash", "strategy: hedge", "strategy: quorum",
			&Version{}, Version{}, "X-Min-Version"},
		{"quorum: version alone is also the agreement", "strategy: hedge",
			"strategy: quorum\n    version: {header: ETag}",
			&Version{Header: "ETag"}, Version{Header: "ETag"}, "X-Min-Version"},
		{"quorum: both set, quorum.version agrees and version floors (etcd)", "strategy: hedge",
			"strategy: quorum\n    version: {json_pointer: /header/revision}\n    quorum: {read: 1, version: {json_pointer: /kvs/0/mod_revision, missing: \"0\"}}",
			&Version{JSONPointer: "/header/revision"}, Version{JSONPointer: "/kvs/0/mod_revision", Missing: "0"}, "X-Min-Version"},
		{"the header renamed", "strategy: hedge",
			"strategy: hedge\n    version: {header: X-Version}\n    min_version_header: X-Session-Token",
			&Version{Header: "X-Version"}, Version{Header: "X-Version"}, "X-Session-Token"},
		{"the floor turned off", "strategy: hedge",
			"strategy: hedge\n    version: {header: X-Version}\n    min_version_header: \"\"",
			&Version{Header: "X-Version"}, Version{Header: "X-Version"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(edit(t, tc.old, tc.new)), "v.yaml")
			if err != nil {
				t.Fatal(err)
			}
			r := c.Routes[0]
			got, ok := r.ResponseVersion()
			if ok != (tc.response != nil) || (ok && got != *tc.response) {
				t.Errorf("ResponseVersion = %+v, %v; want %+v", got, ok, tc.response)
			}
			if a := r.AgreementVersion(); r.Strategy == StrategyQuorum && a != tc.agreement {
				t.Errorf("AgreementVersion = %+v, want %+v", a, tc.agreement)
			}
			if r.MinVersionHeader != tc.headerWant {
				t.Errorf("min_version_header = %q, want %q", r.MinVersionHeader, tc.headerWant)
			}
			checkRoundTrip(t, c)
		})
	}
}

func TestRouteVersionProblems(t *testing.T) {
	tests := []struct {
		name, new string
		want      []string
	}{
		{"a floor header needs a version", "min_version_header: X-Min-Version",
			[]string{`x.yaml:11: routes[0].min_version_header: needs a version to compare the floor with: set version (quorum.version counts only with strategy quorum)`}},
		{"quorum.version does not version a hedge route", "min_version_header: X-Min-Version\n    quorum: {version: {header: X-Version}}",
			[]string{`x.yaml:11: routes[0].min_version_header: needs a version to compare the floor with: set version (quorum.version counts only with strategy quorum)`}},
		{"a bad floor header name", "version: {header: X-Version}\n    min_version_header: \"X Min\"",
			[]string{`x.yaml:12: routes[0].min_version_header: "X Min" is not a valid header name`}},
		{"both sources", "version: {header: X-Version, json_pointer: /v}",
			[]string{`x.yaml:11: routes[0].version: set header or json_pointer, not both`}},
		{"a bad header", "version: {header: \"a b\"}",
			[]string{`x.yaml:11: routes[0].version.header: "a b" is not a valid header name`}},
		{"a bad pointer", "version: {json_pointer: v}",
			[]string{`x.yaml:11: routes[0].version.json_pointer: "v" must start with "/" (RFC 6901)`}},
		{"missing beside a hash", "version: {missing: \"0\"}",
			[]string{`x.yaml:11: routes[0].version.missing: needs version.header or version.json_pointer (a body hash always exists)`}},
		{"an unknown key", "version: {heder: X-Version}",
			[]string{`x.yaml:11: routes[0].version.heder: unknown key "heder" (did you mean "header"?)`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(edit(t, "timeout: 1s", "timeout: 1s\n    "+tc.new)), "x.yaml")
			if err == nil {
				t.Fatal("parsed")
			}
			if got := problemLines(t, err); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// A quorum route may order its agreement by the route's version: latest and
// monotonic accept it.
func TestQuorumOrderedByTheRouteVersion(t *testing.T) {
	src := edit(t, "strategy: hedge", "strategy: quorum\n    version: {header: X-Version}\n    quorum: {read: 1, conflict: latest, monotonic: {enabled: true}}")
	if _, err := Parse([]byte(src), "q.yaml"); err != nil {
		t.Fatal(err)
	}
	src = edit(t, "strategy: hedge", "strategy: quorum\n    version: {}\n    quorum: {read: 1, conflict: latest}")
	_, err := Parse([]byte(src), "q.yaml")
	want := []string{`q.yaml:11: routes[0].quorum.conflict: latest needs version.header or version.json_pointer (a body hash has no order)`}
	if got := problemLines(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
