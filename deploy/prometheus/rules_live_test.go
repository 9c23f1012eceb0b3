//go:build live

// Package prometheus holds hedgegate's alert rules (alerts.yaml, unit-tested by
// promtool test rules) and, here, their check against a live Prometheus.
package prometheus

import (
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

var promURL = flag.String("prometheus", "", "a live Prometheus that loaded alerts.yaml (deploy/prometheus/live.sh)")

// Loaded by a real Prometheus scraping a real gateway, every rule evaluates without
// error: the expressions match the series the gateway really exports.
func TestRulesEvaluateOnALiveGateway(t *testing.T) {
	if *promURL == "" {
		t.Fatal("needs -prometheus URL (deploy/prometheus/live.sh passes it)")
	}
	src, err := os.ReadFile("alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []map[string]any `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(src, &file); err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, g := range file.Groups {
		want += len(g.Rules)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(*promURL + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name           string    `json:"name"`
					Health         string    `json:"health"`
					LastError      string    `json:"lastError"`
					LastEvaluation time.Time `json:"lastEvaluation"`
					State          string    `json:"state"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, g := range body.Data.Groups {
		for _, r := range g.Rules {
			got++
			if r.Health != "ok" || r.LastEvaluation.IsZero() {
				t.Errorf("rule %s: health %q, last evaluation %v: %s", r.Name, r.Health, r.LastEvaluation, r.LastError)
			}
			if r.State != "" {
				t.Logf("%s: %s", r.Name, r.State)
			}
		}
	}
	if got != want {
		t.Errorf("Prometheus loaded %d rules, alerts.yaml has %d", got, want)
	}
}
