// Package grafana holds hedgegate's Grafana dashboard, written as code with Grafana's
// foundation SDK (its own dashboard JSON model) and committed as hedgegate.json for
// import. `go generate ./grafana/` rewrites the file; a test keeps the two equal.
package grafana

//go:generate go run ../cmd/hedgegate-dashboard -o hedgegate.json

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// UID is the dashboard's identity in Grafana: re-importing replaces it.
const UID = "hedgegate-overview"

// Placeholders Grafana fills in: a test substitutes them to run the queries.
const (
	gw      = `instance=~"$instance"`
	onRoute = `instance=~"$instance", route=~"$route"`
	rate    = "[$__rate_interval]"
)

type target struct{ expr, legend string }

type panel struct {
	title, description, unit string
	targets                  []target
	stat                     bool // a single number (stat) instead of a time series
}

type row struct {
	title  string
	panels []panel
}

// rows is the dashboard: what a hedging gateway does, from the client's view down to
// each replica. Every expr is run against a live Prometheus by live_test.go.
var rows = []row{{
	title: "Clients",
	panels: []panel{{
		title: "Requests by route", unit: "reqps",
		description: "Client requests answered per second.",
		targets:     []target{{`sum by (route) (rate(hedgegate_requests_total{` + onRoute + `}` + rate + `))`, "{{route}}"}},
	}, {
		title: "Answers by status code", unit: "reqps",
		description: "502: every attempt failed or no quorum; 504: deadline; 5xx passed through from replicas. Requests shed at max_inflight are answered before routing and counted only in the Shed panel.",
		targets:     []target{{`sum by (code) (rate(hedgegate_requests_total{` + onRoute + `}` + rate + `))`, "{{code}}"}},
	}, {
		title: "Latency p50 and p99 by route", unit: "s",
		description: "From a request's arrival to its answer's headers, from hedgegate_request_duration_seconds.",
		targets: []target{
			{`histogram_quantile(0.5, sum by (route, le) (rate(hedgegate_request_duration_seconds_bucket{` + onRoute + `}` + rate + `)))`, "{{route}} p50"},
			{`histogram_quantile(0.99, sum by (route, le) (rate(hedgegate_request_duration_seconds_bucket{` + onRoute + `}` + rate + `)))`, "{{route}} p99"},
		},
	}, {
		title: "Truncated answers", unit: "reqps",
		description: "Answers cut short after their headers (the replica reset mid-body, or the route deadline passed while it streamed): the client's connection was aborted, never ended cleanly.",
		targets:     []target{{`sum by (route) (rate(hedgegate_truncated_responses_total{` + onRoute + `}` + rate + `))`, "{{route}}"}},
	}, {
		title: "Availability by route (non-5xx share)", unit: "percentunit",
		description: "Share of routed answers that are not 5xx (shed requests are in the Shed panel, not here).",
		targets: []target{{`sum by (route) (rate(hedgegate_requests_total{` + onRoute + `, code!~"5.."}` + rate + `))
  / sum by (route) (rate(hedgegate_requests_total{` + onRoute + `}` + rate + `))`, "{{route}}"}},
	}},
}, {
	title: "Extra attempts and the budget",
	panels: []panel{{
		title: "Backend requests per client request, by kind", unit: "none",
		description: "primary: planned attempts (1 for hedge, fanout for parallel, N for quorum); hedge and retry: the extra ones the budget pays for.",
		targets: []target{{`sum by (route, kind) (rate(hedgegate_backend_requests_total{` + onRoute + `}` + rate + `))
  / on (route) group_left sum by (route) (rate(hedgegate_requests_total{` + onRoute + `}` + rate + `))`, "{{route}} {{kind}}"}},
	}, {
		title: "Hedge win rate", unit: "percentunit",
		description: "Share of hedges whose answer was the one served: high means the first attempt really was stuck; low means hedges fire too early (see gateway tune).",
		targets: []target{{`sum by (route) (rate(hedgegate_hedge_wins_total{` + onRoute + `}` + rate + `))
  / sum by (route) (rate(hedgegate_backend_requests_total{` + onRoute + `, kind="hedge"}` + rate + `))`, "{{route}}"}},
	}, {
		title: "Extra attempts not sent", unit: "ops",
		description: "budget empty: hedges and retries wanted but not sent because the route's budget was empty, the gateway refusing to amplify a failure. answer already here: hedges held one more delay because an attempt's answer waited unread on its connection, the gateway behind on its own CPU rather than the replica slow.",
		targets: []target{{`sum by (route, reason) (
  label_replace(rate(hedgegate_budget_denied_total{` + onRoute + `}` + rate + `), "reason", "budget empty", "", "")
  or label_replace(rate(hedgegate_hedges_held_total{` + onRoute + `}` + rate + `), "reason", "answer already here", "", ""))`, "{{route}} {{reason}}"}},
	}, {
		title: "Budget available", unit: "none",
		description: "Extra attempts each route's budget could grant now, per gateway: near 0 means denials follow.",
		targets:     []target{{`min by (route, instance) (hedgegate_budget_available{` + onRoute + `})`, "{{route}} {{instance}}"}},
	}},
}, {
	title: "Replicas",
	panels: []panel{{
		title: "Replica latency p50, p99, p99.9", unit: "s",
		description: "From each replica's rolling HDR window (latency.buckets x latency.window), as the engine sees it.",
		targets: []target{{`max by (replica, quantile) (hedgegate_replica_latency_seconds{` + gw + `, replica=~"$replica", quantile=~"0.5|0.99|0.999"})`,
			"{{replica}} q{{quantile}}"}},
	}, {
		title: "Hedge delay by route and replica", unit: "s",
		description: "How long a hedge route waits on a replica before it sends the next attempt: the replica's hedge percentile, clamped.",
		targets:     []target{{`max by (route, replica) (hedgegate_hedge_delay_seconds{` + onRoute + `, replica=~"$replica"})`, "{{route}} {{replica}}"}},
	}, {
		title: "Hedge percentile by route and replica", unit: "none",
		description: "The percentile of the replica's latency its hedge delay is at: the configured one, or with hedge.percentile auto the tuner's choice this window (absent while the replica is on initial_delay).",
		targets:     []target{{`max by (route, replica) (hedgegate_hedge_percentile{` + onRoute + `, replica=~"$replica"})`, "{{route}} {{replica}}"}},
	}, {
		title: "Replica failure ratio", unit: "percentunit",
		description: "Attempts that ended in a 5xx, a connect failure, a reset or a timeout, over attempts that ended.",
		targets: []target{{`sum by (replica) (rate(hedgegate_replica_failures_total{` + gw + `, replica=~"$replica"}` + rate + `))
  / sum by (replica) (rate(hedgegate_replica_attempts_total{` + gw + `, replica=~"$replica"}` + rate + `))`, "{{replica}}"}},
	}, {
		title: "Backend requests by replica and kind", unit: "reqps",
		description: "Where attempts go: the picker steers away from slow or failing replicas.",
		targets: []target{{`sum by (replica, kind) (rate(hedgegate_backend_requests_total{` + onRoute + `, replica=~"$replica"}` + rate + `))`,
			"{{replica}} {{kind}}"}},
	}},
}, {
	title: "Self-tuning hedges (hedge.percentile auto)",
	panels: []panel{{
		title: "Auto: predicted p99", unit: "s",
		description: "The model's p99 for the delays the tuner put in force (gateway overhead not included): compare with the route's target_p99 and the measured p99 above.",
		targets:     []target{{`max by (route) (hedgegate_hedge_predicted_p99_seconds{` + onRoute + `})`, "{{route}}"}},
	}, {
		title: "Auto: predicted extra load", unit: "percentunit",
		description: "Extra attempts per request the model predicts for the delays in force: never above max_extra_load unless the cheapest delays the histograms vouch for already exceed it.",
		targets:     []target{{`max by (route) (hedgegate_hedge_predicted_extra_load{` + onRoute + `})`, "{{route}}"}},
	}, {
		title: "Auto: target unmet", unit: "bool", stat: true,
		description: "1 on a route whose tuner found no delays meeting target_p99 within max_extra_load (it took the cap's best), or none within the cap at all: the goal needs more budget or a faster replica set.",
		targets:     []target{{`max by (route) (hedgegate_hedge_target_unmet{` + onRoute + `})`, "{{route}}"}},
	}},
}, {
	title: "Quorum reads",
	panels: []panel{{
		title: "Quorum results", unit: "reqps",
		description: "agree: read replicas agreed; latest: conflict: latest chose; no_quorum, stale, deadline: the client got an error.",
		targets:     []target{{`sum by (route, result) (rate(hedgegate_quorum_results_total{` + onRoute + `}` + rate + `))`, "{{route}} {{result}}"}},
	}, {
		title: "Quorum divergence by replica", unit: "percentunit",
		description: "Share of quorum reads in which the replica's version differed from the one served: which replica lags.",
		targets: []target{{`sum by (route, replica) (rate(hedgegate_quorum_divergence_total{` + onRoute + `}` + rate + `))
  / on (route) group_left sum by (route) (rate(hedgegate_quorum_results_total{` + onRoute + `}` + rate + `))`, "{{route}} {{replica}}"}},
	}},
}, {
	title: "Client version floor",
	panels: []panel{{
		title: "Stale answers by replica", unit: "reqps",
		description: "Answers below the floor a client carried (X-Min-Version): not served; the next attempt went to a replica not yet tried. Which replica lags, and how often.",
		targets: []target{{`sum by (route, replica) (rate(hedgegate_stale_answers_total{` + onRoute + `, replica=~"$replica"}` + rate + `))`,
			"{{route}} {{replica}}"}},
	}, {
		title: "Floor unmet (503)", unit: "reqps",
		description: "Requests no replica answered at or above the client's floor before the deadline: a 503 with Retry-After listing each replica's version. Steady: a replica set that lags the writes its clients made.",
		targets:     []target{{`sum by (route) (rate(hedgegate_floor_unmet_total{` + onRoute + `}` + rate + `))`, "{{route}}"}},
	}},
}, {
	title: "Load, shedding, config and discovery",
	panels: []panel{{
		title: "In flight", unit: "none",
		description: "The most client requests in flight during each interval, per gateway; limits.max_inflight sheds past it.",
		targets:     []target{{`max by (instance) (max_over_time(hedgegate_inflight_requests{` + gw + `}` + rate + `))`, "{{instance}}"}},
	}, {
		title: "Shed (503 at max_inflight)", unit: "reqps",
		description: "Requests refused at once because limits.max_inflight were in flight.",
		targets:     []target{{`sum by (instance) (rate(hedgegate_shed_total{` + gw + `}` + rate + `))`, "{{instance}}"}},
	}, {
		title: "Config reloads", unit: "none",
		description: "Reloads by result (SIGHUP or POST /reload); an error keeps the previous config in force.",
		targets:     []target{{`sum by (result) (increase(hedgegate_config_reloads_total{` + gw + `}` + rate + `))`, "{{result}}"}},
	}, {
		title: "Last reload refused", unit: "bool", stat: true,
		description: "1 on a gateway whose last reload was refused: the file on disk is not the config in force.",
		targets:     []target{{`max by (instance) (hedgegate_config_last_reload_error{` + gw + `})`, "{{instance}}"}},
	}, {
		title: "Discovery lookups", unit: "none",
		description: "DNS lookups of each discovery replica set by result (ok, not_found, empty, timeout, error). " +
			"A failed lookup keeps the members the set has; only ok ones change them.",
		targets: []target{{`sum by (set, result) (increase(hedgegate_discovery_refresh_total{` + gw + `}` + rate + `))`, "{{set}} {{result}}"}},
	}},
}, {
	title: "Process",
	panels: []panel{{
		title: "CPU", unit: "percentunit",
		description: "Cores used by each gateway process.",
		targets:     []target{{`rate(process_cpu_seconds_total{` + gw + `}` + rate + `)`, "{{instance}}"}},
	}, {
		title: "Memory", unit: "bytes",
		targets: []target{
			{`process_resident_memory_bytes{` + gw + `}`, "{{instance}} RSS"},
			{`go_memstats_heap_inuse_bytes{` + gw + `}`, "{{instance}} heap in use"},
		},
	}, {
		title: "Goroutines and open files", unit: "none",
		targets: []target{
			{`go_goroutines{` + gw + `}`, "{{instance}} goroutines"},
			{`process_open_fds{` + gw + `}`, "{{instance}} open fds"},
		},
	}},
}}

// datasource is the dashboard's Prometheus, chosen by the user on import.
func datasource() common.DataSourceRef {
	typ, uid := "prometheus", "${datasource}"
	return common.DataSourceRef{Type: &typ, Uid: &uid}
}

// Dashboard builds the dashboard.
func Dashboard() (dashboard.Dashboard, error) {
	b := dashboard.NewDashboardBuilder("hedgegate").
		Uid(UID).
		Description("hedgegate: requests, hedges, retries and the budget, per-replica latency, quorum reads, shedding and reloads.").
		Tags([]string{"hedgegate", "gateway"}).
		Refresh("30s").
		Time("now-1h", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Prometheus").Type("prometheus")).
		WithVariable(labelVariable("instance", "Gateway", `label_values(hedgegate_requests_total, instance)`)).
		WithVariable(labelVariable("route", "Route", `label_values(hedgegate_requests_total{instance=~"$instance"}, route)`)).
		WithVariable(labelVariable("replica", "Replica", `label_values(hedgegate_replica_attempts_total{instance=~"$instance"}, replica)`))
	id := uint32(0)
	for _, r := range rows {
		id++
		b = b.WithRow(dashboard.NewRowBuilder(r.title).Id(id))
		for _, p := range r.panels {
			id++
			b = b.WithPanel(p.build(id))
		}
	}
	return b.Build()
}

func labelVariable(name, label, query string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(datasource()).
		Query(dashboard.StringOrMap{String: &query}).
		Definition(query).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".*")
}

func (p panel) build(id uint32) cog.Builder[dashboard.Panel] {
	var queries []cog.Builder[variants.Dataquery]
	for i, t := range p.targets {
		queries = append(queries, prometheus.NewDataqueryBuilder().
			Datasource(datasource()).
			RefId(string(rune('A'+i))).
			Expr(t.expr).
			LegendFormat(t.legend).
			Range())
	}
	if p.stat {
		return stat.NewPanelBuilder().Id(id).Title(p.title).Description(p.description).Unit(p.unit).
			Datasource(datasource()).Targets(queries).Span(6).Height(8).
			GraphMode(common.BigValueGraphModeNone).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
	}
	return timeseries.NewPanelBuilder().Id(id).Title(p.title).Description(p.description).Unit(p.unit).
		Datasource(datasource()).Targets(queries).Span(12).Height(8).
		FillOpacity(10).ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeList).Placement(common.LegendPlacementBottom).ShowLegend(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending))
}

// JSON is the dashboard as Grafana imports it.
func JSON() ([]byte, error) {
	d, err := Dashboard()
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Exprs lists every target's PromQL in a dashboard JSON, by panel title: what the
// live test runs, read from the file users import rather than from this code.
func Exprs(dashboardJSON []byte) (map[string][]string, error) {
	var d struct {
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dashboardJSON, &d); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			return nil, fmt.Errorf("panel %q has no query", p.Title)
		}
		for _, t := range p.Targets {
			if strings.TrimSpace(t.Expr) == "" {
				return nil, fmt.Errorf("panel %q has a target without expr", p.Title)
			}
			out[p.Title] = append(out[p.Title], t.Expr)
		}
	}
	return out, nil
}
