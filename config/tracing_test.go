package config

import (
	"reflect"
	"testing"
)

func TestTracingDefaultsOff(t *testing.T) {
	c, err := Parse([]byte(base), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Tracing{OTLPEndpoint: "", SampleRatio: 0.01}); c.Tracing != want {
		t.Errorf("tracing %+v, want %+v", c.Tracing, want)
	}
	c, err = Parse([]byte("tracing: {otlp_endpoint: \"http://127.0.0.1:4318\", sample_ratio: 0}\n"+base), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Tracing.SampleRatio != 0 {
		t.Errorf("an explicit sample_ratio: 0 became %v", c.Tracing.SampleRatio)
	}
}

func TestTracingProblems(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"ratio above 1", `{otlp_endpoint: "http://c:4318", sample_ratio: 1.5}`,
			[]string{`x.yaml:1: tracing.sample_ratio: must be in [0,1], got 1.5`}},
		{"negative ratio, without an endpoint", `{sample_ratio: -0.1}`,
			[]string{`x.yaml:1: tracing.sample_ratio: must be in [0,1], got -0.1`}},
		{"NaN ratio", `{sample_ratio: .nan}`,
			[]string{`x.yaml:1: tracing.sample_ratio: must be in [0,1], got NaN`}},
		{"host:port", `{otlp_endpoint: "otel-collector:4318"}`,
			[]string{`x.yaml:1: tracing.otlp_endpoint: "otel-collector:4318": want an http:// or https:// URL such as http://otel-collector:4318 (OTLP/HTTP)`}},
		{"address:port", `{otlp_endpoint: "127.0.0.1:4318"}`,
			[]string{`x.yaml:1: tracing.otlp_endpoint: "127.0.0.1:4318": want an http:// or https:// URL such as http://otel-collector:4318 (OTLP/HTTP)`}},
		{"grpc scheme", `{otlp_endpoint: "grpc://c:4317"}`,
			[]string{`x.yaml:1: tracing.otlp_endpoint: "grpc://c:4317": want an http:// or https:// URL such as http://otel-collector:4318 (OTLP/HTTP)`}},
		{"no host", `{otlp_endpoint: "http:///v1/traces"}`,
			[]string{`x.yaml:1: tracing.otlp_endpoint: "http:///v1/traces" has no host`}},
		{"credentials, redacted", `{otlp_endpoint: "https://user:secret@c:4318"}`,
			[]string{`x.yaml:1: tracing.otlp_endpoint: "https://user:xxxxx@c:4318": the exporter does not send credentials written in the URL; pass them as a header in OTEL_EXPORTER_OTLP_HEADERS`}},
		{"query", `{otlp_endpoint: "http://c:4318/v1/traces?tenant=a"}`,
			[]string{`x.yaml:1: tracing.otlp_endpoint: "http://c:4318/v1/traces?tenant=a" has a query or fragment; the exporter posts to the URL's path alone`}},
		{"bad port", `{otlp_endpoint: "http://c:43x18"}`,
			[]string{`x.yaml:1: tracing.otlp_endpoint: bad URL "http://c:43x18": invalid port ":43x18" after host`}},
		{"unknown key", `{otlp_endpoint: "http://c:4318", sample_rate: 0.1}`,
			[]string{`x.yaml:1: tracing.sample_rate: unknown key "sample_rate" (did you mean "sample_ratio"?)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte("tracing: "+tc.yaml+"\n"+base), "x.yaml")
			if err == nil {
				t.Fatal("accepted")
			}
			if got := problemLines(t, err); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestOTLPTracesURL(t *testing.T) {
	for endpoint, want := range map[string]string{
		"http://c:4318":               "http://c:4318/v1/traces",
		"http://c:4318/":              "http://c:4318/v1/traces",
		"https://tempo.example/otlp/": "https://tempo.example/otlp/",
		"http://c:4318/v1/traces":     "http://c:4318/v1/traces",
		"":                            "",
	} {
		if got := (Tracing{OTLPEndpoint: endpoint}).OTLPTracesURL(); got != want {
			t.Errorf("%q: posts to %q, want %q", endpoint, got, want)
		}
	}
}
