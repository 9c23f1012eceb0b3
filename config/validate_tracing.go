package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
)

// tracing checks the OTLP endpoint as the exporter will use it, so that a URL it would
// quietly misread (no scheme, credentials it drops, a query) is refused here instead.
func (v *validator) tracing(t *Tracing) {
	if t.SampleRatio < 0 || t.SampleRatio > 1 || math.IsNaN(t.SampleRatio) {
		v.add("tracing.sample_ratio", "must be in [0,1], got %v", t.SampleRatio)
	}
	if t.OTLPEndpoint == "" {
		return
	}
	if msg := checkOTLPEndpoint(t.OTLPEndpoint); msg != "" {
		v.add("tracing.otlp_endpoint", "%s", msg)
	}
}

func checkOTLPEndpoint(raw string) string {
	shown := strconv.Quote(RedactURL(raw))
	u, err := url.Parse(raw)
	var uerr *url.Error
	switch {
	case err != nil && !strings.Contains(raw, "://"), err == nil && u.Scheme != "http" && u.Scheme != "https":
		// host:port parses as scheme "host", or not at all: the fix is the scheme.
		return shown + ": want an http:// or https:// URL such as http://otel-collector:4318 (OTLP/HTTP)"
	case errors.As(err, &uerr):
		// Its text would repeat the URL, password included.
		return fmt.Sprintf("bad URL %s: %v", shown, uerr.Err)
	case err != nil:
		return fmt.Sprintf("bad URL %s: %v", shown, err)
	case u.Hostname() == "":
		return shown + " has no host"
	case u.User != nil:
		return shown + ": the exporter does not send credentials written in the URL; pass them as a header in OTEL_EXPORTER_OTLP_HEADERS"
	case u.RawQuery != "" || u.ForceQuery || strings.Contains(raw, "#"):
		return shown + " has a query or fragment; the exporter posts to the URL's path alone"
	}
	return ""
}

// OTLPTracesURL is where spans are posted: the endpoint as written when it has a
// path, its /v1/traces otherwise (as OTEL_EXPORTER_OTLP_ENDPOINT is read).
func (t Tracing) OTLPTracesURL() string {
	u, err := url.Parse(t.OTLPEndpoint)
	if err != nil || t.OTLPEndpoint == "" {
		return ""
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String()
}
