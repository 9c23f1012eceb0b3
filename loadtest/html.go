package loadtest

import (
	"html/template"
	"io"
	"math"
	"strconv"
)

// WriteHTML writes a self-contained HTML report (no external scripts, styles or
// fonts, so it opens offline): the latency-by-percentile chart of every run on
// one plot, as inline SVG, and a summary table; for runs with a time series
// (Options.SeriesInterval), p99 and extra load over time too. Runs are drawn in
// order, each in its own colour, labelled by Name. Everything, the charts
// included, is rendered by html/template, so a run name cannot inject markup.
func WriteHTML(w io.Writer, title string, runs []NamedSummary) error {
	return WriteHTMLWith(w, title, runs, HTMLOptions{})
}

// WriteHTMLWith is WriteHTML with the additions opts asks for.
func WriteHTMLWith(w io.Writer, title string, runs []NamedSummary, opts HTMLOptions) error {
	rows := make([]htmlRow, len(runs))
	showGW := false
	for i, r := range runs {
		s := r.Summary
		rows[i] = htmlRow{
			Name: r.Name, Color: palette[i%len(palette)], S: s,
			OKPct: pct(s.OK, s.Requests), Lat: s.Latency,
		}
		if s.Gateway != nil {
			showGW = true
		}
	}
	return htmlPage.Execute(w, map[string]any{
		"Title":      title,
		"Chart":      newChart(runs),
		"TimeCharts": newTimeCharts(runs, opts),
		"Rows":       rows,
		"ShowGW":     showGW,
	})
}

type htmlRow struct {
	Name, Color, OKPct string
	S                  Summary
	Lat                LatencyMS
}

// palette: distinguishable on white and for the common colour-vision deficiencies
// (Okabe–Ito), in the order runs are usually listed (baseline first).
var palette = [...]string{"#555555", "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442"}

var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{"sig4": sig4, "c": coord}).Parse(htmlTemplate))

// htmlTemplate is the page; "chart" draws the SVG from a chart. The table keeps
// every column within a laptop screen (~1000 px): latency and gateway columns sit
// under group headers, so their own headers are short and may wrap, with a legend
// below; a narrower window scrolls the table inside its box, not the page.
const htmlTemplate = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}
p.sub{color:#666;margin:0 0 16px;font-size:13px}
svg{display:block;max-width:100%;height:auto}
svg text{font-family:inherit;font-size:12px;fill:#333}
div.table{overflow-x:auto;max-width:100%;margin-top:18px}
table{border-collapse:collapse;font-size:12px;font-variant-numeric:tabular-nums}
th,td{padding:3px 4px;border-bottom:1px solid #ddd;text-align:right}
td{white-space:nowrap}
th{background:#f4f4f4;font-weight:600;vertical-align:bottom}
th.group{text-align:center;border-bottom:1px solid #bbb}
td.name,th.name{text-align:left}
.sw{display:inline-block;width:10px;height:10px;margin-right:6px;vertical-align:middle}
p.legend{color:#555;font-size:12px;max-width:960px;margin:6px 0 0}
h2{font-size:15px;margin:22px 0 4px}
ul.warn{color:#a40;font-size:13px}
</style></head>
<body>
<h1>{{.Title}}</h1>
<p class="sub">Latency by percentile, measured from each request's intended send time (open loop: queueing behind a slow answer is counted). The x axis is log 1/(1&minus;p), so each step right is ten times rarer.</p>
{{template "chart" .Chart}}
<div class="table"><table>
<tr><th class="name" rowspan="2">run</th><th rowspan="2">requests</th><th class="group" colspan="2">req/s</th><th rowspan="2">ok</th><th rowspan="2">errors</th><th class="group" colspan="7">latency, ms</th>{{if .ShowGW}}<th class="group" colspan="4">gateway</th>{{end}}</tr>
<tr><th>asked</th><th>achieved</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>p99.99</th><th>max</th><th>mean</th>{{if .ShowGW}}<th>backend/<wbr>req</th><th>hedge rate</th><th>hedge wins</th><th>budget denied</th>{{end}}</tr>
{{range .Rows}}<tr><td class="name"><span class="sw" style="background:{{.Color}}"></span>{{.Name}}</td><td>{{.S.Requests}}</td><td>{{.S.Rate}}</td><td>{{printf "%.1f" .S.AchievedRate}}</td><td>{{.OKPct}}</td><td>{{.S.Errors}}</td><td>{{sig4 .Lat.P50}}</td><td>{{sig4 .Lat.P90}}</td><td>{{sig4 .Lat.P99}}</td><td>{{sig4 .Lat.P999}}</td><td>{{sig4 .Lat.P9999}}</td><td>{{sig4 .Lat.Max}}</td><td>{{sig4 .Lat.Mean}}</td>{{if $.ShowGW}}{{with .S.Gateway}}<td>{{printf "%.3f" .BackendPerRequest}}</td><td>{{printf "%.3f" .HedgeRate}}</td><td>{{.HedgeWins}}</td><td>{{.BudgetDenied}}</td>{{else}}<td>-</td><td>-</td><td>-</td><td>-</td>{{end}}{{end}}</tr>
{{end}}</table></div>
<p class="legend">Latency to 4 significant digits (the histograms keep 3). ok: 2xx and 3xx answers, of all requests; errors: no answer, or a 5xx.{{if .ShowGW}} Gateway columns are the gateway's own counters over the run (from its /metrics): backend/req, requests it sent to replicas per client request; hedge rate, hedges per client request; hedge wins, answers that came from a hedge; budget denied, extra attempts the budget refused; - where the run did not go through a gateway.{{end}}</p>
{{range .Rows}}{{if .S.Warnings}}<ul class="warn">{{$n := .Name}}{{range .S.Warnings}}<li>{{$n}}: {{.}}</li>{{end}}</ul>{{end}}{{end}}
{{range .TimeCharts}}<h2>{{.Title}}</h2>{{template "timechart" .}}{{end}}{{if .TimeCharts}}<p class="legend">One point per interval of the run, by intended send time. Extra load is from the gateway's own counters between scrapes at the interval's ends, so it lags the latencies by the length of a request.</p>{{end}}
</body></html>
{{define "chart"}}<svg viewBox="0 0 {{.W}} {{.H}}" width="{{.W}}" height="{{.H}}" role="img" aria-label="latency by percentile">
<rect x="{{.PlotX}}" y="{{.PlotY}}" width="{{.PlotW}}" height="{{.PlotH}}" fill="#fcfcfc" stroke="#999"/>
{{range .YTicks}}<line x1="{{$.PlotX}}" y1="{{c .Y}}" x2="{{$.PlotRight}}" y2="{{c .Y}}" stroke="{{if .Minor}}#f1f1f1{{else}}#e4e4e4{{end}}"/>
{{if .Label}}<text x="{{$.YTickLabelX}}" y="{{c .Y}}" text-anchor="end" dominant-baseline="middle">{{.Label}}</text>
{{end}}{{end}}{{range .XTicks}}<line x1="{{c .X}}" y1="{{$.PlotY}}" x2="{{c .X}}" y2="{{$.PlotBottom}}" stroke="#e4e4e4"/>
<text x="{{c .X}}" y="{{$.XTickLabelY}}" text-anchor="middle">{{.Label}}</text>
{{end}}<text x="{{.XLabelX}}" y="{{.XLabelY}}" text-anchor="middle">percentile</text>
<text transform="translate(16 {{.YLabelY}}) rotate(-90)" text-anchor="middle">latency (ms{{if .YLog}}, log scale{{end}})</text>
{{range .Curves}}<polyline fill="none" stroke="{{.Color}}" stroke-width="2" stroke-linejoin="round" points="{{.Points}}"><title>{{.Name}}</title></polyline>
{{end}}{{with .Legend}}<rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="#fff" fill-opacity="0.9" stroke="#ccc"/>
{{range .Items}}<rect x="{{.SwatchX}}" y="{{.SwatchY}}" width="{{$.LegendSwatchW}}" height="{{$.SwatchH}}" fill="{{.Color}}"/>
<text x="{{.TextX}}" y="{{.TextY}}" dominant-baseline="middle">{{.Name}}</text>
{{end}}{{end}}</svg>{{end}}
{{define "timechart"}}<svg viewBox="0 0 {{.W}} {{.H}}" width="{{.W}}" height="{{.H}}" role="img" aria-label="{{.Title}}">
<rect x="{{.PlotX}}" y="{{.PlotY}}" width="{{.PlotW}}" height="{{.PlotH}}" fill="#fcfcfc" stroke="#999"/>
{{range .YTicks}}<line x1="{{$.PlotX}}" y1="{{c .Y}}" x2="{{$.PlotRight}}" y2="{{c .Y}}" stroke="{{if .Minor}}#f1f1f1{{else}}#e4e4e4{{end}}"/>
{{if .Label}}<text x="{{$.YTickLabelX}}" y="{{c .Y}}" text-anchor="end" dominant-baseline="middle">{{.Label}}</text>
{{end}}{{end}}{{range .XTicks}}<line x1="{{c .X}}" y1="{{$.PlotY}}" x2="{{c .X}}" y2="{{$.PlotBottom}}" stroke="#e4e4e4"/>
<text x="{{c .X}}" y="{{$.XTickLabelY}}" text-anchor="middle">{{.Label}}</text>
{{end}}<text x="{{.XLabelX}}" y="{{.XLabelY}}" text-anchor="middle">time since the start (s)</text>
<text transform="translate(16 {{.YLabelY}}) rotate(-90)" text-anchor="middle">{{.YLabel}}</text>
{{range .Events}}<line x1="{{c .X}}" y1="{{$.PlotY}}" x2="{{c .X}}" y2="{{$.PlotBottom}}" stroke="#666" stroke-dasharray="3 3"/>
<text x="{{c .X}}" y="{{$.PlotY}}" dx="4" dy="12">{{.Label}}</text>
{{end}}{{with .Mark}}<line x1="{{$.PlotX}}" y1="{{c .Y}}" x2="{{$.PlotRight}}" y2="{{c .Y}}" stroke="#c00" stroke-dasharray="6 4"/>
<text x="{{c .LabelX}}" y="{{c .Y}}" dy="-4" text-anchor="end" style="fill:#c00">{{.Label}}</text>
{{end}}{{range .Curves}}<polyline fill="none" stroke="{{.Color}}" stroke-width="2" stroke-linejoin="round" points="{{.Points}}"><title>{{.Name}}</title></polyline>
{{end}}{{with .Legend}}<rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="#fff" fill-opacity="0.9" stroke="#ccc"/>
{{range .Items}}<rect x="{{.SwatchX}}" y="{{.SwatchY}}" width="{{$.LegendSwatchW}}" height="{{$.SwatchH}}" fill="{{.Color}}"/>
<text x="{{.TextX}}" y="{{.TextY}}" dominant-baseline="middle">{{.Name}}</text>
{{end}}{{end}}</svg>{{end}}`

// sig4 formats a latency to 4 significant digits, at most 3 decimals: the
// histograms hold 3, and the table stays narrow (1.504, 52.54, 261.9, 1235).
func sig4(ms float64) string {
	decimals := 3
	if ms >= 1 {
		decimals = max(0, 3-int(math.Floor(math.Log10(ms))))
	}
	return strconv.FormatFloat(ms, 'f', decimals, 64)
}
