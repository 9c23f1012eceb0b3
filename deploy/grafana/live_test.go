//go:build live

package grafana

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Run by deploy/prometheus/live.sh against the Prometheus it started:
//
//	go test -tags live ./grafana/ -args -prometheus URL -metrics URL -start UNIX -end UNIX
var (
	promURL    = flag.String("prometheus", "", "the live Prometheus")
	metricsURL = flag.String("metrics", "", "the gateway's /metrics, scraped by that Prometheus")
	start      = flag.Int64("start", 0, "unix time the load began")
	end        = flag.Int64("end", 0, "unix time the load ended")
	rateWindow = flag.String("rate-interval", "10s", "what $__rate_interval stands for (Grafana: at least 4 scrape intervals)")
	dumpDir    = flag.String("dump", "", "write each panel's range result as JSON here (for rendering)")
)

// substitute fills in what Grafana would: every gateway, route and replica.
func substitute(expr string) string {
	r := strings.NewReplacer("$__rate_interval", *rateWindow, "$instance", ".*", "$route", ".*", "$replica", ".*")
	return r.Replace(expr)
}

func queryRange(t *testing.T, expr string) []Series {
	t.Helper()
	q := url.Values{"query": {expr}, "start": {strconv.FormatInt(*start, 10)}, "end": {strconv.FormatInt(*end, 10)}, "step": {"1"}}
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []Series `json:"result"`
		} `json:"data"`
	}
	get(t, *promURL+"/api/v1/query_range?"+q.Encode(), &body)
	if body.Status != "success" {
		t.Fatalf("%s: %s", expr, body.Error)
	}
	return body.Data.Result
}

func get(t *testing.T, u string, v any) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
}

func requireFlags(t *testing.T) {
	if *promURL == "" || *start == 0 || *end <= *start {
		t.Fatal("needs -prometheus URL -start UNIX -end UNIX (deploy/prometheus/live.sh passes them)")
	}
}

// Every target of every panel, as the committed file has it, drew something: at least
// one series with a sample that is neither zero nor NaN during the load.
func TestEveryPanelHasDataInLivePrometheus(t *testing.T) {
	requireFlags(t)
	b, err := os.ReadFile("hedgegate.json")
	if err != nil {
		t.Fatal(err)
	}
	exprs, err := Exprs(b)
	if err != nil {
		t.Fatal(err)
	}
	titles := make([]string, 0, len(exprs))
	for title := range exprs {
		titles = append(titles, title)
	}
	sort.Strings(titles)
	dump := PanelData{}
	for _, title := range titles {
		for i, e := range exprs[title] {
			res := queryRange(t, substitute(e))
			dump[title] = append(dump[title], res)
			nonzero, samples := 0, 0
			for _, s := range res {
				for _, v := range s.Values {
					samples++
					f, err := strconv.ParseFloat(fmt.Sprint(v[1]), 64)
					if err == nil && f != 0 && !math.IsNaN(f) && !math.IsInf(f, 0) {
						nonzero++
					}
				}
			}
			switch {
			case len(res) == 0:
				t.Errorf("panel %q target %d: no data\n  %s", title, i, e)
			case nonzero == 0:
				t.Errorf("panel %q target %d: %d series, %d samples, all zero or NaN\n  %s", title, i, len(res), samples, e)
			default:
				t.Logf("panel %q target %d: %d series, %d/%d samples non-zero", title, i, len(res), nonzero, samples)
			}
		}
	}
	if *dumpDir != "" {
		out, _ := json.Marshal(dump)
		if err := os.WriteFile(*dumpDir+"/panels.json", out, 0o644); err != nil {
			t.Error(err)
		}
	}
}

// The template variables list something.
func TestDashboardVariablesHaveValues(t *testing.T) {
	requireFlags(t)
	for _, v := range []struct{ label, match string }{
		{"instance", "hedgegate_requests_total"}, {"route", "hedgegate_requests_total"}, {"replica", "hedgegate_replica_attempts_total"},
	} {
		var body struct {
			Data []string `json:"data"`
		}
		get(t, *promURL+"/api/v1/label/"+v.label+"/values?"+url.Values{"match[]": {v.match}}.Encode(), &body)
		if len(body.Data) == 0 {
			t.Errorf("variable %s: no values of %s on %s", v.label, v.label, v.match)
		}
	}
}

// Every hedgegate_* family the gateway exports is on some panel.
func TestDashboardCoversEveryGatewayMetric(t *testing.T) {
	requireFlags(t)
	if *metricsURL == "" {
		t.Fatal("needs -metrics URL")
	}
	resp, err := http.Get(*metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b, err := os.ReadFile("hedgegate.json")
	if err != nil {
		t.Fatal(err)
	}
	exprs, err := Exprs(b)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, es := range exprs {
		for _, e := range es {
			all.WriteString(e + "\n")
		}
	}
	families := regexp.MustCompile(`(?m)^# TYPE (hedgegate_\w+) (\w+)`).FindAllStringSubmatch(string(text), -1)
	if len(families) == 0 {
		t.Fatalf("no hedgegate_ families at %s", *metricsURL)
	}
	for _, f := range families {
		name := f[1]
		if f[2] == "histogram" {
			name += "_bucket"
		}
		if !regexp.MustCompile(`\b` + name + `\b`).MatchString(all.String()) {
			t.Errorf("no panel shows %s", f[1])
		}
	}
}
