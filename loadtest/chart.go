package loadtest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	chartW, chartH                     = 960.0, 460.0
	padL, padR, padT, padB             = 70.0, 36.0, 16.0, 52.0
	plotW, plotH                       = chartW - padL - padR, chartH - padT - padB
	maxNines                           = 6
	logYRatio                          = 30 // use a log y axis when max/min latency exceeds it
	legendRowH, legendSwatch, legendX0 = 18.0, 14.0, 12.0
)

// chart is the latency-by-percentile plot as numbers and labels only: the page
// template draws it as SVG, so every name and label in it is escaped by
// html/template, never by hand.
type chart struct {
	W, H                   float64
	PlotX, PlotY           float64 // top left of the plot area
	PlotW, PlotH           float64
	PlotRight, PlotBottom  float64
	YTicks                 []chartYTick
	YTickLabelX            float64 // right edge of the y tick labels
	XTicks                 []chartXTick
	XTickLabelY            float64
	XLabelX, XLabelY       float64 // "percentile"
	YLabelY                float64 // the rotated y-axis title's centre
	YLog                   bool
	Curves                 []chartCurve
	Legend                 *chartLegend
	LegendSwatchW, SwatchH float64
}

type chartYTick struct {
	Y     float64
	Label string // "" for a minor line
	Minor bool
}

type chartXTick struct {
	X     float64
	Label string
}

type chartCurve struct {
	Color, Name string
	Points      string // "x,y x,y ...": numbers only
}

type chartLegend struct {
	X, Y, W, H float64
	Items      []chartLegendItem
}

type chartLegendItem struct {
	SwatchX, SwatchY float64
	TextX, TextY     float64
	Color, Name      string
}

// xOf maps a percentile to log10(1/(1-p)); 100 maps to the run's 1-1/count point,
// where the curve's resolution ends.
func xOf(p float64, count int64) float64 {
	if p >= 100 {
		return math.Log10(float64(max(count, 1)))
	}
	return -math.Log10(1 - p/100)
}

// newChart lays out every run's curve, axes and legend.
func newChart(runs []NamedSummary) chart {
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

	c := chart{
		W: chartW, H: chartH, PlotX: padL, PlotY: padT, PlotW: plotW, PlotH: plotH,
		PlotRight: padL + plotW, PlotBottom: padT + plotH, YTickLabelX: padL - 6, XTickLabelY: padT + plotH + 18,
		XLabelX: padL + plotW/2, XLabelY: chartH - 8, YLabelY: padT + plotH/2, YLog: ya.log,
		LegendSwatchW: legendSwatch, SwatchH: legendSwatch - 4,
	}
	for _, t := range ya.ticks {
		tick := chartYTick{Y: ya.px(t.v), Minor: t.minor}
		if !t.minor {
			tick.Label = fmtMS(t.v)
		}
		c.YTicks = append(c.YTicks, tick)
	}
	// One vertical line per nine.
	for k := 0; k <= int(xMax); k++ {
		c.XTicks = append(c.XTicks, chartXTick{X: px(float64(k)), Label: ninesLabel(k)})
	}
	for i, r := range runs {
		var pts []string
		for _, pt := range r.Summary.Curve {
			x := xOf(pt.Percentile, r.Summary.Requests)
			if x > xMax+1e-9 {
				continue
			}
			pts = append(pts, coord(px(x))+","+coord(ya.px(pt.MS)))
		}
		if len(pts) > 0 {
			c.Curves = append(c.Curves, chartCurve{Color: palette[i%len(palette)], Name: r.Name, Points: strings.Join(pts, " ")})
		}
	}
	c.Legend = newLegend(runs)
	return c
}

// newLegend places the legend top left inside the plot, where curves are lowest.
func newLegend(runs []NamedSummary) *chartLegend {
	if len(runs) == 0 {
		return nil
	}
	wMax := 0
	for _, r := range runs {
		wMax = max(wMax, len([]rune(r.Name)))
	}
	l := &chartLegend{
		X: padL + legendX0, Y: padT + 10,
		W: math.Round(float64(wMax)*7.5 + legendSwatch + 22), H: float64(len(runs))*legendRowH + 8,
	}
	for i, r := range runs {
		y := padT + 14 + float64(i)*legendRowH
		l.Items = append(l.Items, chartLegendItem{
			SwatchX: padL + legendX0 + 6, SwatchY: y + 1,
			TextX: padL + legendX0 + legendSwatch + 12, TextY: y + 6,
			Color: palette[i%len(palette)], Name: r.Name,
		})
	}
	return l
}

// coord formats an SVG coordinate to a tenth of a unit.
func coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

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

func (a yAxis) px(v float64) float64 { return padT + plotH*(1-a.frac(v)) }

// frac is how far up the axis v sits, 0 at the bottom and 1 at the top.
func (a yAxis) frac(v float64) float64 {
	f := 0.0
	if a.log {
		f = (math.Log10(max(v, math.Pow(10, a.lo))) - a.lo) / max(a.hi-a.lo, 1e-9)
	} else if a.hi > 0 {
		f = v / a.hi
	}
	return min(max(f, 0), 1)
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
