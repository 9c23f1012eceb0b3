package grafana

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Series is one Prometheus range-query result series.
type Series struct {
	Metric map[string]string `json:"metric"`
	Values [][2]any          `json:"values"`
}

// PanelData is, per panel title, each target's range-query result: what the live
// test dumps with -dump.
type PanelData map[string][][]Series

// Render draws the dashboard's panels from recorded query results as one HTML page of
// SVG charts laid out on the dashboard's grid. Grafana is not packaged for Debian;
// this shows what the panels would draw, from the same queries on the same data.
func Render(w io.Writer, dashboardJSON []byte, data PanelData, caption string) error {
	var d struct {
		Title  string `json:"title"`
		Panels []struct {
			Type    string                   `json:"type"`
			Title   string                   `json:"title"`
			GridPos struct{ H, W, X, Y int } `json:"gridPos"`
			Targets []struct {
				LegendFormat string `json:"legendFormat"`
			} `json:"targets"`
			FieldConfig struct {
				Defaults struct {
					Unit string `json:"unit"`
				} `json:"defaults"`
			} `json:"fieldConfig"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dashboardJSON, &d); err != nil {
		return err
	}
	fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>%s</title><style>%s</style></head><body>
<h1>%s <small>%s</small></h1><div class="grid">`, html.EscapeString(d.Title), css, html.EscapeString(d.Title), html.EscapeString(caption))
	for _, p := range d.Panels {
		style := fmt.Sprintf("grid-column:%d/span %d;grid-row:%d/span %d", p.GridPos.X+1, p.GridPos.W, p.GridPos.Y+1, p.GridPos.H)
		if p.Type == "row" {
			fmt.Fprintf(w, `<div class="row" style="%s">%s</div>`, style, html.EscapeString(p.Title))
			continue
		}
		var lines []line
		for i, res := range data[p.Title] {
			legend := ""
			if i < len(p.Targets) {
				legend = p.Targets[i].LegendFormat
			}
			for _, s := range res {
				lines = append(lines, toLine(s, legend))
			}
		}
		fmt.Fprintf(w, `<div class="panel" style="%s"><div class="title">%s</div>`, style, html.EscapeString(p.Title))
		if p.Type == "stat" {
			drawStat(w, lines, p.FieldConfig.Defaults.Unit)
		} else {
			drawChart(w, lines, p.FieldConfig.Defaults.Unit)
		}
		io.WriteString(w, `</div>`)
	}
	_, err := io.WriteString(w, "</div></body></html>\n")
	return err
}

// Grid geometry of the page: one dashboard grid unit is rowPx high, cells gapPx apart.
const rowPx, gapPx, headerPx = 30, 6, 60

// PageHeight is how tall, in CSS pixels, Render's page is for this dashboard: what a
// screenshot's window must be to hold every panel.
func PageHeight(dashboardJSON []byte) (int, error) {
	var d struct {
		Panels []struct {
			GridPos struct{ H, Y int } `json:"gridPos"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dashboardJSON, &d); err != nil {
		return 0, err
	}
	units := 0
	for _, p := range d.Panels {
		units = max(units, p.GridPos.Y+p.GridPos.H)
	}
	return headerPx + units*(rowPx+gapPx), nil
}

const css = `body{background:#111217;color:#ccccdc;font:12px DejaVu Sans,sans-serif;margin:8px}
h1{font-size:16px;margin:4px 4px 8px}h1 small{color:#8e8e9e;font-weight:normal;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(24,1fr);grid-auto-rows:30px;gap:6px}
.row{font-size:14px;font-weight:bold;padding-top:8px}
.panel{background:#181b1f;border:1px solid #2c3235;border-radius:2px;padding:4px 6px;overflow:hidden;display:flex;flex-direction:column}
.title{font-weight:bold;margin-bottom:2px}svg{flex:1;width:100%}
.legend{display:flex;flex-wrap:wrap;gap:2px 10px;max-height:34px;overflow:hidden}.legend i{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}
.stat{flex:1;display:flex;align-items:center;justify-content:center;font-size:40px;color:#73bf69}`

var palette = []string{"#73bf69", "#f2cc0c", "#5794f2", "#ff9830", "#f2495c", "#b877d9", "#8ab8ff", "#fade2a", "#96d98d", "#ffb357", "#ca95e5", "#ff7383"}

type line struct {
	name string
	ts   []float64
	vs   []float64
}

var legendVar = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

func toLine(s Series, legend string) line {
	name := legendVar.ReplaceAllStringFunc(legend, func(m string) string {
		return s.Metric[legendVar.FindStringSubmatch(m)[1]]
	})
	if name == "" {
		name = fmt.Sprint(s.Metric)
	}
	l := line{name: name}
	for _, v := range s.Values {
		t, _ := v[0].(float64)
		f, err := strconv.ParseFloat(fmt.Sprint(v[1]), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		l.ts, l.vs = append(l.ts, t), append(l.vs, f)
	}
	return l
}

func drawChart(w io.Writer, lines []line, unit string) {
	const width, height, left, bottom = 560.0, 170.0, 58.0, 16.0
	tmin, tmax, vmax := math.Inf(1), math.Inf(-1), 0.0
	for _, l := range lines {
		for i := range l.ts {
			tmin, tmax, vmax = math.Min(tmin, l.ts[i]), math.Max(tmax, l.ts[i]), math.Max(vmax, l.vs[i])
		}
	}
	fmt.Fprintf(w, `<svg viewBox="0 0 %.0f %.0f" preserveAspectRatio="none">`, width, height)
	if tmax <= tmin {
		io.WriteString(w, `<text x="50%" y="50%" fill="#8e8e9e" text-anchor="middle">No data</text></svg>`)
		return
	}
	if vmax == 0 {
		vmax = 1
	}
	x := func(t float64) float64 { return left + (t-tmin)/(tmax-tmin)*(width-left-4) }
	y := func(v float64) float64 { return 4 + (1-v/vmax)*(height-bottom-8) }
	for i := 0; i <= 4; i++ {
		v := vmax * float64(i) / 4
		fmt.Fprintf(w, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#2c3235"/><text x="%.0f" y="%.1f" fill="#8e8e9e" font-size="10" text-anchor="end">%s</text>`,
			left, width-4, y(v), y(v), left-4, y(v)+3, formatValue(v, unit))
	}
	for i := 0; i <= 4; i++ {
		t := tmin + (tmax-tmin)*float64(i)/4
		fmt.Fprintf(w, `<text x="%.0f" y="%.0f" fill="#8e8e9e" font-size="10" text-anchor="middle">%s</text>`,
			x(t), height-3, time.Unix(int64(t), 0).UTC().Format("15:04:05"))
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].name < lines[j].name })
	step := math.Inf(1)
	for _, l := range lines {
		for k := 1; k < len(l.ts); k++ {
			step = math.Min(step, l.ts[k]-l.ts[k-1])
		}
	}
	for i, l := range lines {
		// A gap in the samples (no data for a while) breaks the line, as Grafana does.
		fmt.Fprintf(w, `<g class="series" fill="none" stroke="%s" stroke-width="1.3">`, palette[i%len(palette)])
		var pts strings.Builder
		for k := range l.ts {
			if k > 0 && l.ts[k]-l.ts[k-1] > 1.5*step {
				fmt.Fprintf(w, `<polyline points="%s"/>`, pts.String())
				pts.Reset()
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(l.ts[k]), y(l.vs[k]))
		}
		fmt.Fprintf(w, `<polyline points="%s"/></g>`, pts.String())
	}
	io.WriteString(w, `</svg><div class="legend">`)
	for i, l := range lines {
		fmt.Fprintf(w, `<span><i style="background:%s"></i>%s</span>`, palette[i%len(palette)], html.EscapeString(l.name))
	}
	io.WriteString(w, `</div>`)
}

func drawStat(w io.Writer, lines []line, unit string) {
	last := math.NaN()
	for _, l := range lines {
		if n := len(l.vs); n > 0 && (math.IsNaN(last) || l.vs[n-1] > last) {
			last = l.vs[n-1]
		}
	}
	text := "No data"
	if !math.IsNaN(last) {
		text = formatValue(last, unit)
	}
	fmt.Fprintf(w, `<div class="stat">%s</div>`, html.EscapeString(text))
}

// formatValue writes v in the panel's unit, roughly as Grafana would.
func formatValue(v float64, unit string) string {
	switch unit {
	case "s":
		switch {
		case v == 0:
			return "0"
		case v < 1e-3:
			return fmt.Sprintf("%.0fµs", v*1e6)
		case v < 1:
			return fmt.Sprintf("%.3gms", v*1e3)
		}
		return fmt.Sprintf("%.3gs", v)
	case "percentunit":
		return fmt.Sprintf("%.3g%%", v*100)
	case "bytes":
		return fmt.Sprintf("%.3g MiB", v/(1<<20))
	case "reqps":
		return fmt.Sprintf("%.3g req/s", v)
	case "ops":
		return fmt.Sprintf("%.3g/s", v)
	case "bool":
		if v != 0 {
			return "1 (true)"
		}
		return "0 (false)"
	}
	return fmt.Sprintf("%.3g", v)
}
