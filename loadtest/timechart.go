package loadtest

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Time-chart geometry, in SVG user units: two of them stacked under the percentile
// chart, sharing its width.
const timeChartH = 300.0

// timeChart is one value of every run's series over time (p99, extra load), as
// numbers and labels only, like chart: the template draws it.
type timeChart struct {
	Title, YLabel          string
	W, H                   float64
	PlotX, PlotY           float64
	PlotW, PlotH           float64
	PlotRight, PlotBottom  float64
	YTicks                 []chartYTick
	YTickLabelX            float64
	XTicks                 []chartXTick
	XTickLabelY            float64
	XLabelX, XLabelY       float64
	YLabelY                float64
	Curves                 []chartCurve
	Legend                 *chartLegend
	LegendSwatchW, SwatchH float64
	// Mark is a dashed horizontal line (a target), with its label; nil: none.
	Mark *timeMark
	// Events are dashed vertical lines, with their labels.
	Events []timeEvent
}

type timeEvent struct {
	X     float64
	Label string
}

type timeMark struct {
	Y      float64
	Label  string
	LabelX float64
}

// HTMLOptions add to the HTML report.
type HTMLOptions struct {
	// TargetP99 draws a dashed line at this latency on the p99-over-time chart.
	TargetP99 time.Duration
	// Events draw a dashed vertical line on the charts over time.
	Events []HTMLEvent
}

// HTMLEvent is something that happened during the runs, At after their start.
type HTMLEvent struct {
	At    time.Duration
	Label string
}

// seriesValue reads one value of a series point; false: the point has none.
type seriesValue func(SeriesPoint) (float64, bool)

// newTimeCharts are the p99 and extra-load charts, for the runs with a series; nil
// when no run has one, and the extra-load chart only when some point has gateway
// figures.
func newTimeCharts(runs []NamedSummary, opts HTMLOptions) []*timeChart {
	var out []*timeChart
	p99 := func(p SeriesPoint) (float64, bool) { return p.P99, p.Requests > 0 }
	extra := func(p SeriesPoint) (float64, bool) {
		if p.ExtraLoad == nil {
			return 0, false
		}
		return 100 * *p.ExtraLoad, true
	}
	if c := newTimeChart(runs, "p99 over time", "p99 (ms)", p99, float64(opts.TargetP99)/float64(time.Millisecond), true, opts.Events); c != nil {
		out = append(out, c)
	}
	if c := newTimeChart(runs, "extra load over time: backend requests per request − 1", "extra load (%)", extra, 0, false, opts.Events); c != nil {
		out = append(out, c)
	}
	return out
}

// newTimeChart lays out value over time for every run; mark > 0 draws a line at it,
// events draw vertical lines. A chart whose values span more than logYRatio is drawn
// on a log axis when logOK, so that a stall's spike does not flatten the rest.
func newTimeChart(runs []NamedSummary, title, ylabel string, value seriesValue, mark float64, logOK bool, events []HTMLEvent) *timeChart {
	tMax, yMin, yMax, any := 0.0, math.Inf(1), mark, false
	for _, r := range runs {
		for _, p := range r.Summary.Series {
			if v, ok := value(p); ok {
				any = true
				tMax, yMax = max(tMax, p.T), max(yMax, v)
				if v > 0 {
					yMin = min(yMin, v)
				}
			}
		}
	}
	if !any {
		return nil
	}
	xstep := niceStep(max(tMax, 1) / 10)
	tMax = math.Ceil(max(tMax, 1)/xstep) * xstep
	ya := newYAxis(min(yMin, max(yMax, 1)), max(yMax, 1))
	if !logOK && ya.log {
		ya = newYAxis(max(yMax, 1), max(yMax, 1)) // linear from 0
	}
	ph := timeChartH - padT - padB
	px := func(t float64) float64 { return padL + plotW*min(t/tMax, 1) }
	py := func(v float64) float64 { return padT + ph*(1-ya.frac(v)) }
	c := &timeChart{
		Title: title, YLabel: ylabel,
		W: chartW, H: timeChartH, PlotX: padL, PlotY: padT, PlotW: plotW, PlotH: ph,
		PlotRight: padL + plotW, PlotBottom: padT + ph, YTickLabelX: padL - 6, XTickLabelY: padT + ph + 18,
		XLabelX: padL + plotW/2, XLabelY: timeChartH - 8, YLabelY: padT + ph/2,
		LegendSwatchW: legendSwatch, SwatchH: legendSwatch - 4,
	}
	if ya.log {
		c.YLabel += ", log scale"
	}
	for _, t := range ya.ticks {
		tick := chartYTick{Y: py(t.v), Minor: t.minor}
		if !t.minor {
			tick.Label = fmtMS(t.v)
		}
		c.YTicks = append(c.YTicks, tick)
	}
	for t := 0.0; t <= tMax+xstep/2; t += xstep {
		c.XTicks = append(c.XTicks, chartXTick{X: px(t), Label: fmt.Sprintf("%gs", t)})
	}
	c.addCurves(runs, value, func(t, v float64) string { return coord(px(t)) + "," + coord(py(v)) })
	if mark > 0 {
		c.Mark = &timeMark{Y: py(mark), Label: "target " + fmtMS(mark) + " ms", LabelX: padL + plotW - 4}
	}
	for _, e := range events {
		c.Events = append(c.Events, timeEvent{X: px(e.At.Seconds()), Label: e.Label})
	}
	return c
}

// addCurves draws one line per run with a value, and the legend of those runs, each
// in its run's colour; at maps a point to its SVG coordinates.
func (c *timeChart) addCurves(runs []NamedSummary, value seriesValue, at func(t, v float64) string) {
	var named []NamedSummary
	for i, r := range runs {
		var pts []string
		for _, p := range r.Summary.Series {
			if v, ok := value(p); ok {
				pts = append(pts, at(p.T, v))
			}
		}
		if len(pts) > 0 {
			c.Curves = append(c.Curves, chartCurve{Color: palette[i%len(palette)], Name: r.Name, Points: strings.Join(pts, " ")})
			named = append(named, NamedSummary{Name: r.Name})
		}
	}
	if c.Legend = newLegend(named); c.Legend == nil {
		return
	}
	for k := range c.Legend.Items {
		c.Legend.Items[k].Color = c.Curves[k].Color
	}
}
