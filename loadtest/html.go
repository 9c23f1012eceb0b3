package loadtest

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"strings"
)

// WriteHTML writes a self-contained HTML report (no external scripts, styles or
// fonts, so it opens offline): the latency-by-percentile chart of every run on
// one plot, as inline SVG, and a summary table. Runs are drawn in order, each in
// its own colour, labelled by Name.
func WriteHTML(w io.Writer, title string, runs []NamedSummary) error {
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
		"Title":  title,
		"Chart":  template.HTML(chartSVG(runs)), // built from escaped parts below
		"Rows":   rows,
		"ShowGW": showGW,
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

var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{"f3": f3}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}
p.sub{color:#666;margin:0 0 16px;font-size:13px}
svg{display:block;max-width:100%;height:auto}
svg text{font-family:inherit;font-size:12px;fill:#333}
table{border-collapse:collapse;margin-top:18px;font-size:13px}
th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
th{background:#f4f4f4}
td.name,th.name{text-align:left}
.sw{display:inline-block;width:10px;height:10px;margin-right:6px;vertical-align:middle}
ul.warn{color:#a40;font-size:13px}
</style></head>
<body>
<h1>{{.Title}}</h1>
<p class="sub">Latency by percentile, measured from each request's intended send time (open loop: queueing behind a slow answer is counted). The x axis is log 1/(1&minus;p), so each step right is ten times rarer.</p>
{{.Chart}}
<table>
<tr><th class="name">run</th><th>requests</th><th>asked/s</th><th>achieved/s</th><th>ok</th><th>errors</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>p99.99 ms</th><th>max ms</th><th>mean ms</th>{{if .ShowGW}}<th>backend/req</th><th>hedge rate</th><th>hedge wins</th><th>budget denied</th>{{end}}</tr>
{{range .Rows}}<tr><td class="name"><span class="sw" style="background:{{.Color}}"></span>{{.Name}}</td><td>{{.S.Requests}}</td><td>{{.S.Rate}}</td><td>{{printf "%.1f" .S.AchievedRate}}</td><td>{{.OKPct}}</td><td>{{.S.Errors}}</td><td>{{f3 .Lat.P50}}</td><td>{{f3 .Lat.P90}}</td><td>{{f3 .Lat.P99}}</td><td>{{f3 .Lat.P999}}</td><td>{{f3 .Lat.P9999}}</td><td>{{f3 .Lat.Max}}</td><td>{{f3 .Lat.Mean}}</td>{{if $.ShowGW}}{{with .S.Gateway}}<td>{{printf "%.3f" .BackendPerRequest}}</td><td>{{printf "%.3f" .HedgeRate}}</td><td>{{.HedgeWins}}</td><td>{{.BudgetDenied}}</td>{{else}}<td>-</td><td>-</td><td>-</td><td>-</td>{{end}}{{end}}</tr>
{{end}}</table>
{{range .Rows}}{{if .S.Warnings}}<ul class="warn">{{$n := .Name}}{{range .S.Warnings}}<li>{{$n}}: {{.}}</li>{{end}}</ul>{{end}}{{end}}
</body></html>
`))

// Chart geometry, in SVG user units.
const (
	chartW, chartH                     = 960.0, 460.0
	padL, padR, padT, padB             = 70.0, 36.0, 16.0, 52.0
	plotW, plotH                       = chartW - padL - padR, chartH - padT - padB
	maxNines                           = 6
	logYRatio                          = 30 // use a log y axis when max/min latency exceeds it
	legendRowH, legendSwatch, legendX0 = 18.0, 14.0, 12.0
)

// xOf maps a percentile to log10(1/(1-p)); 100 maps to the run's 1-1/count point,
// where the curve's resolution ends.
func xOf(p float64, count int64) float64 {
	if p >= 100 {
		return math.Log10(float64(max(count, 1)))
	}
	return -math.Log10(1 - p/100)
}

// chartSVG draws every run's curve. All text placed in it is escaped here.
func chartSVG(runs []NamedSummary) string {
	xMax, yMin, yMax := 2.0, math.Inf(1), 0.0
	for _, r := range runs {
		for _, pt := range r.Summary.Curve {
			xMax = max(xMax, xOf(pt.Percentile, r.Summary.Requests))
			if pt.MS > 0 {
				yMin, yMax = min(yMin, pt.MS), max(yMax, pt.MS)
			}
		}
	}
	xMax = min(math.Ceil(xMax-1e-9), maxNines)
	if yMax == 0 {
		yMin, yMax = 0.1, 1
	}
	ya := newYAxis(yMin, yMax)
	px := func(x float64) float64 { return padL + plotW*min(x, xMax)/xMax }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="latency by percentile">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="#fcfcfc" stroke="#999"/>`, padL, padT, plotW, plotH)
	// Y grid and labels.
	for _, t := range ya.ticks {
		y := ya.px(t.v)
		stroke := "#e4e4e4"
		if t.minor {
			stroke = "#f1f1f1"
		}
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="%s"/>`, padL, y, padL+plotW, y, stroke)
		if !t.minor {
			fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, padL-6, y, fmtMS(t.v))
		}
	}
	// X grid: one line per nine.
	for k := 0; k <= int(xMax); k++ {
		x := px(float64(k))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#e4e4e4"/>`, x, padT, x, padT+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle">%s</text>`, x, padT+plotH+18, ninesLabel(k))
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">percentile</text>`, padL+plotW/2, chartH-8)
	fmt.Fprintf(&b, `<text transform="translate(16 %g) rotate(-90)" text-anchor="middle">latency (ms%s)</text>`, padT+plotH/2, map[bool]string{true: ", log scale", false: ""}[ya.log])
	// Curves.
	for i, r := range runs {
		var pts []string
		for _, pt := range r.Summary.Curve {
			x := xOf(pt.Percentile, r.Summary.Requests)
			if x > xMax+1e-9 {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(x), ya.px(pt.MS)))
		}
		if len(pts) == 0 {
			continue
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round" points="%s"><title>%s</title></polyline>`,
			palette[i%len(palette)], strings.Join(pts, " "), html.EscapeString(r.Name))
	}
	// Legend, top left inside the plot where curves are lowest.
	if len(runs) > 0 {
		wMax := 0
		for _, r := range runs {
			wMax = max(wMax, len([]rune(r.Name)))
		}
		lw := float64(wMax)*7.5 + legendSwatch + 22
		fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%.0f" height="%g" fill="#fff" fill-opacity="0.9" stroke="#ccc"/>`,
			padL+legendX0, padT+10, lw, float64(len(runs))*legendRowH+8)
		for i, r := range runs {
			y := padT + 14 + float64(i)*legendRowH
			fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="%s"/>`, padL+legendX0+6, y+1, legendSwatch, legendSwatch-4, palette[i%len(palette)])
			fmt.Fprintf(&b, `<text x="%g" y="%g" dominant-baseline="middle">%s</text>`, padL+legendX0+legendSwatch+12, y+6, html.EscapeString(r.Name))
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func ninesLabel(k int) string {
	switch k {
	case 0:
		return "0%"
	case 1:
		return "90%"
	case 2:
		return "99%"
	}
	return "99." + strings.Repeat("9", k-2) + "%"
}

func fmtMS(v float64) string {
	if v >= 1 {
		return fmt.Sprintf("%g", math.Round(v*100)/100)
	}
	return fmt.Sprintf("%.3g", v)
}

type yTick struct {
	v     float64
	minor bool
}

// yAxis maps latency to a pixel row, linear from 0 or log across decades.
type yAxis struct {
	log    bool
	lo, hi float64 // data bounds (log: log10 of them)
	ticks  []yTick
}

func newYAxis(yMin, yMax float64) yAxis {
	if yMax/yMin > logYRatio {
		// Bounds at 1, 2 or 5 × a power of ten, so no decade is mostly empty.
		lo, hi := math.Log10(niceFloor(yMin)), math.Log10(niceStep(yMax))
		a := yAxis{log: true, lo: lo, hi: hi}
		// Label 2 and 5 only when there are few decades, to keep labels apart.
		minor := hi-lo > 3
		for e := math.Floor(lo); e <= hi; e++ {
			d := math.Pow(10, e)
			for _, m := range []float64{1, 2, 5} {
				v := m * d
				if l := math.Log10(v); l < lo-1e-9 || l > hi+1e-9 {
					continue
				}
				a.ticks = append(a.ticks, yTick{v: v, minor: m != 1 && minor})
			}
		}
		return a
	}
	step := niceStep(yMax / 5)
	hi := math.Ceil(yMax/step) * step
	a := yAxis{lo: 0, hi: hi}
	for v := 0.0; v <= hi+step/2; v += step {
		a.ticks = append(a.ticks, yTick{v: v})
	}
	return a
}

// niceFloor rounds down to 1, 2 or 5 × a power of ten.
func niceFloor(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{5, 2, 1} {
		if m*p <= v {
			return m * p
		}
	}
	return p
}

func (a yAxis) px(v float64) float64 {
	f := 0.0
	if a.log {
		f = (math.Log10(max(v, math.Pow(10, a.lo))) - a.lo) / max(a.hi-a.lo, 1e-9)
	} else if a.hi > 0 {
		f = v / a.hi
	}
	return padT + plotH*(1-f)
}

// niceStep rounds a raw tick step up to 1, 2 or 5 × a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}
