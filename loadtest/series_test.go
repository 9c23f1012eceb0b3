package loadtest

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestSeriesSplitsByIntendedTime: a 1s stall in the middle of a 3s run shows in the
// middle interval alone, charged to the requests due in it.
func TestSeriesSplitsByIntendedTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &stallTransport{serve: time.Millisecond, stallFrom: time.Second, stallTo: 2 * time.Second}
		res, err := Run(t.Context(), Options{
			URL: "http://sim.invalid/", Rate: 100, Duration: 3 * time.Second,
			Connections: 200, Transport: tr, timerOnly: true, SeriesInterval: time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		s := res.Summary().Series
		if len(s) != 3 {
			t.Fatalf("series %+v, want 3 intervals", s)
		}
		for i, p := range s {
			if p.T != float64(i) || p.Requests != 100 || p.Errors != 0 || p.ExtraLoad != nil {
				t.Errorf("interval %d: %+v, want t %d, 100 requests, no gateway figures", i, p, i)
			}
		}
		// Due at 1.00s … 1.99s, all answered at 2.00s: p99 is the one due first.
		if s[1].P99 < 980 || s[1].P99 > 1001 || s[0].P99 > 2 || s[2].P99 > 2 {
			t.Errorf("p99 by interval %v, %v, %v: want ~1ms, ~990ms, ~1ms", s[0].P99, s[1].P99, s[2].P99)
		}
	})
}

// TestSeriesGatewayPerRoute: with a metrics route, each interval's extra load comes
// from that route's counters alone, between the scrapes at the interval's ends.
func TestSeriesGatewayPerRoute(t *testing.T) {
	// Every scrape finds 100 more requests of kv-get and 110 more backend requests
	// (10% extra), and the other route far busier.
	var scrapes atomic.Int64
	metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := scrapes.Add(1)
		fmt.Fprintf(w, "hedgegate_requests_total{route=\"kv-get\",code=\"200\"} %d\n", 100*n)
		fmt.Fprintf(w, "hedgegate_backend_requests_total{route=\"kv-get\",replica=\"r1\",kind=\"primary\"} %d\n", 100*n)
		fmt.Fprintf(w, "hedgegate_backend_requests_total{route=\"kv-get\",replica=\"r2\",kind=\"hedge\"} %d\n", 10*n)
		fmt.Fprintf(w, "hedgegate_requests_total{route=\"other\",code=\"200\"} %d\n", 1000*n)
		fmt.Fprintf(w, "hedgegate_backend_requests_total{route=\"other\",replica=\"r1\",kind=\"primary\"} %d\n", 3000*n)
	}))
	defer metrics.Close()
	target, _ := recordingServer(t, 200)
	res, err := Run(t.Context(), Options{URL: target.URL, Rate: 50, Duration: 500 * time.Millisecond,
		MetricsURL: metrics.URL, MetricsRoute: "kv-get", SeriesInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sum := res.Summary()
	if g := sum.Gateway; g == nil || g.BackendPerRequest != 1.1 || g.HedgeRate != 0.1 {
		t.Errorf("gateway %+v: want kv-get's 1.1 backend requests per request", g)
	}
	withGateway := 0
	for _, p := range sum.Series {
		if p.ExtraLoad == nil {
			continue
		}
		withGateway++
		if *p.ExtraLoad != 0.1 || p.GatewayRequests != 100 || p.BackendRequests != 110 {
			t.Errorf("interval at %vs: %+v, want kv-get's 100 requests and 10%% extra", p.T, p)
		}
	}
	// The first scrape at an interval's end comes 100ms into a 500ms run: at least
	// that interval has figures, however busy the machine.
	if withGateway < 1 {
		t.Errorf("no interval with gateway figures in %+v", sum.Series)
	}
}

func TestSeriesOptions(t *testing.T) {
	for _, o := range []Options{
		{URL: "http://a/", Rate: 1, Duration: time.Second, SeriesInterval: -time.Second},
		{URL: "http://a/", Rate: 1, Duration: time.Second, MetricsRoute: "kv-get"},
	} {
		if _, err := Run(t.Context(), o); err == nil {
			t.Errorf("Run(%+v) accepted", o)
		}
	}
}

// TestWriteHTMLTimeCharts: runs with a series get p99 and extra load over time, one
// line per run, and the target as a dashed line; runs without get neither.
func TestWriteHTMLTimeCharts(t *testing.T) {
	extra := func(v float64) *float64 { return &v }
	series := func(p99 ...float64) []SeriesPoint {
		var s []SeriesPoint
		for i, v := range p99 {
			s = append(s, SeriesPoint{T: float64(2 * i), Requests: 200, P50: 2, P99: v, ExtraLoad: extra(0.02 * float64(i))})
		}
		return s
	}
	a, b := fakeRun(t, "", 100, time.Second, time.Millisecond), fakeRun(t, "", 100, time.Second, time.Millisecond)
	a.Series, b.Series = series(7, 8, 30, 9), series(5, 6, 6, 5)
	var out bytes.Buffer
	if err := WriteHTMLWith(&out, "t", []NamedSummary{{"fixed <p97>", a}, {"auto", b}}, HTMLOptions{TargetP99: 12 * time.Millisecond,
		Events: []HTMLEvent{{At: 4 * time.Second, Label: "profile B"}}}); err != nil {
		t.Fatal(err)
	}
	doc := out.String()
	for _, want := range []string{"p99 over time", "extra load over time", "target 12 ms", `stroke-dasharray="6 4"`,
		"fixed &lt;p97&gt;", ">profile B<", "log scale"} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if n := strings.Count(doc, "<polyline"); n != 6 {
		t.Errorf("%d curves, want 2 by percentile + 2 p99 + 2 extra load", n)
	}
	for i := strings.Index(doc, "<svg"); i >= 0; {
		j := strings.Index(doc[i:], "</svg>") + i + len("</svg>")
		dec := xml.NewDecoder(strings.NewReader(doc[i:j]))
		for {
			if _, err := dec.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("svg not well-formed: %v", err)
			}
		}
		k := strings.Index(doc[j:], "<svg")
		if k < 0 {
			break
		}
		i = j + k
	}
	out.Reset()
	if err := WriteHTML(&out, "t", []NamedSummary{{"plain", fakeRun(t, "", 100, time.Second, time.Millisecond)}}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "over time") {
		t.Error("a run without a series got time charts")
	}
}
