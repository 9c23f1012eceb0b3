package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// matrixOptions shape one run of the fault matrix.
type matrixOptions struct {
	rate       float64       // client requests per second
	warm       time.Duration // healthy load before the fault goes on (histograms, pools)
	measure    time.Duration // load with the fault on: what each cell reports
	faulty     []int         // how many replicas are faulty, per group of rows (0: a healthy baseline)
	faults     []fault
	strategies []string
	known      knownFailures
}

// goals are what a cell must meet. For cells with two faulty replicas only the last
// two hold (no wrong answer, no hang): the issue sets no other goal there.
type goals struct {
	minSuccess  float64       // share of requests answered 200 with the right body
	maxP99      time.Duration // from each request's due time to the end of its body
	maxWorkMult float64       // backend requests per request ≤ this × the strategy's planned work
}

var issueGoals = goals{minSuccess: 0.999, maxP99: 100 * time.Millisecond, maxWorkMult: 1.2}

// cell is one row of the matrix: a strategy with a fault on some replicas.
type cell struct {
	faulty   int
	fault    string
	strategy string

	sum     summary // requests due once the fault was on
	warmBad int     // requests of the healthy warm phase that were not ok
	backend float64 // attempts the gateway sent per request (hedgegate_backend_requests_total)
	arrived float64 // data requests that reached the replicas per request
	planned float64
	// workLimit is the most backend requests per request allowed: the goal's 1.2 ×
	// planned, plus, for a cell shorter than the budget's window, the budget floor's
	// share that a full window would spread (see workLimit).
	workLimit float64
	stopErr   error // the gateway did not stop cleanly, or logged a panic
	misses    []miss
	known     map[string]bool // goals this cell is known to miss (a known-failures file)
	rerun     string          // why the cell was run a second time, and what the first run said
	load      float64         // the machine's 1-minute load average when the cell ended
}

// name is faulty/fault/strategy, as a known-failures file names the cell.
func (c *cell) name() string { return fmt.Sprintf("%d/%s/%s", c.faulty, c.fault, c.strategy) }

// miss is one goal a cell missed: the goal's key (as a known-failures file names it)
// and what happened.
type miss struct {
	goal, text string
}

// Goal keys.
const (
	goalWrong   = "wrong"   // an answer that looked complete and was not
	goalHung    = "hung"    // no complete answer within the client's timeout
	goalGateway = "gateway" // the gateway did not stop cleanly on SIGTERM, or logged a panic
	goalWarm    = "warm"    // failures before the fault went on
	goalCut     = "cut"     // a truncated answer the client saw as one
	goalSuccess = "success"
	goalP99     = "p99"
	goalWork    = "work" // backend requests per request
)

// check fills in misses against g.
func (c *cell) check(g goals) {
	c.misses = nil
	add := func(goal, format string, args ...any) {
		c.misses = append(c.misses, miss{goal, fmt.Sprintf(format, args...)})
	}
	s := c.sum
	if n := s.counts[verdictWrong]; n > 0 {
		add(goalWrong, "%d wrong answers", n)
	}
	if n := s.counts[verdictHung]; n > 0 {
		add(goalHung, "%d hung", n)
	}
	if c.stopErr != nil {
		add(goalGateway, "gateway: %v", c.stopErr)
	}
	if c.faulty >= 2 {
		return
	}
	if c.warmBad > 0 {
		add(goalWarm, "%d failures before the fault", c.warmBad)
	}
	if n := s.counts[verdictCut]; n > 0 {
		add(goalCut, "%d truncated answers", n)
	}
	if r := s.successRate(); r < g.minSuccess {
		add(goalSuccess, "success %.2f%% < %.1f%%", 100*r, 100*g.minSuccess)
	}
	if s.p99 > g.maxP99 {
		add(goalP99, "p99 %s > %v", msString(s.p99), g.maxP99)
	}
	limit := c.workLimit
	if limit == 0 {
		limit = g.maxWorkMult * c.planned
	}
	if c.backend > limit {
		add(goalWork, "backend/req %.3f > %.3f", c.backend, limit)
	}
}

// unexpected are the misses not known for this cell: they fail the run.
func (c *cell) unexpected() []miss {
	var out []miss
	for _, m := range c.misses {
		if !c.known[m.goal] {
			out = append(out, m)
		}
	}
	return out
}

// onlyLatency says whether every unexpected miss is p99: the one goal a shared
// machine's noise alone can miss, worth a second run.
func (c *cell) onlyLatency() bool {
	u := c.unexpected()
	for _, m := range u {
		if m.goal != goalP99 {
			return false
		}
	}
	return len(u) > 0
}

// status is met, known (only known goals missed) or MISSED, with what was missed.
func (c *cell) status() string {
	if len(c.misses) == 0 {
		return "met"
	}
	t := make([]string, len(c.misses))
	for i, m := range c.misses {
		t[i] = m.text
	}
	verdict := "known"
	if len(c.unexpected()) > 0 {
		verdict = "MISSED"
	}
	return verdict + ": " + strings.Join(t, "; ")
}

// matrixEnv is what every cell shares: replicas, the Toxiproxy lab, the gateway binary.
type matrixEnv struct {
	gatewayBin string
	dir        string // configs and logs
	listen     string
	admin      string
	lab        labSpec // a fresh lab per cell, in front of every replica
	replicas   []*replica
	client     func() *loadClient
	progress   io.Writer
}

func (e *matrixEnv) served() int64 {
	var n int64
	for _, r := range e.replicas {
		n += r.served.Load()
	}
	return n
}

// runMatrix runs every cell in order: faulty count, then fault, then strategy.
func runMatrix(ctx context.Context, env *matrixEnv, o matrixOptions) ([]*cell, error) {
	var cells []*cell
	for _, n := range o.faulty {
		faults := o.faults
		if n == 0 {
			faults = []fault{{name: "none"}}
		}
		for _, f := range faults {
			for _, s := range o.strategies {
				c, err := runCheckedCell(ctx, env, o, n, f, s)
				if err != nil {
					return cells, err
				}
				if c.onlyLatency() {
					first := c
					fmt.Fprintf(env.progress, "%-26s %s; once more\n", c.name(), c.brief())
					if c, err = runCheckedCell(ctx, env, o, n, f, s); err != nil {
						return cells, err
					}
					c.rerun = fmt.Sprintf("run twice: the first missed only p99 (%s, load %.1f)", msString(first.sum.p99), first.load)
				}
				cells = append(cells, c)
				fmt.Fprintf(env.progress, "%-26s %s\n", c.name(), c.brief())
			}
		}
	}
	return cells, nil
}

func runCheckedCell(ctx context.Context, env *matrixEnv, o matrixOptions, n int, f fault, strategy string) (*cell, error) {
	c, err := runCell(ctx, env, o, n, f, strategy)
	if err != nil {
		return nil, err
	}
	c.known = o.known[c.name()]
	c.load = loadAverage()
	c.workLimit = workLimit(issueGoals.maxWorkMult*c.planned, o.measure, c.sum.requests)
	c.check(issueGoals)
	return c, nil
}

// runCell serves one strategy from a fresh gateway (fresh histograms, budget and
// pools): warm load with every replica healthy, then the fault on n replicas with the
// load still running. Only requests due after the fault went on are reported.
func runCell(ctx context.Context, env *matrixEnv, o matrixOptions, n int, f fault, strategy string) (*cell, error) {
	c := &cell{faulty: n, fault: f.name, strategy: strategy, planned: planned(strategy, len(env.replicas))}
	l, err := startLab(ctx, env.lab)
	if err != nil {
		return nil, err
	}
	defer l.close() // after the gateway has stopped: deferred calls run last-first
	name := strings.NewReplacer("×", "x", "/", "-").Replace(c.name())
	yaml := gatewayYAML(env.listen, env.admin, env.lab.proxyAddrs(), routeYAML(strategy, ""), "")
	gw, err := startGateway(ctx, env.gatewayBin, env.dir, name, yaml, env.admin)
	if err != nil {
		return nil, err
	}
	defer gw.proc.kill() // a no-op after a clean stop

	var (
		before   map[string]float64
		served0  int64
		switched bool
		stepErr  error
	)
	at := func(offset time.Duration) {
		if switched || offset < o.warm {
			return
		}
		switched = true
		if before, stepErr = gw.metrics(); stepErr != nil {
			return
		}
		served0 = env.served()
		if n > 0 {
			stepErr = l.inject(f, n)
		}
	}
	cl := env.client()
	defer cl.close()
	recs := cl.run(ctx, o.rate, o.warm+o.measure, at)
	after, err := gw.metrics()
	served1 := env.served()
	c.stopErr = gw.stop()
	if stepErr != nil {
		return nil, fmt.Errorf("%s: switching the fault on: %w", c.name(), stepErr)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: metrics after the run: %w", c.name(), err)
	}
	if len(recs) == 0 || !switched {
		return nil, fmt.Errorf("%s: interrupted", c.name())
	}
	measured := c.split(recs, o.warm)
	if k := float64(len(measured)); k > 0 {
		const backend = "hedgegate_backend_requests_total"
		c.backend = (after[backend] - before[backend]) / k
		c.arrived = float64(served1-served0) / k
	}
	return c, nil
}

// split summarizes the records due once the fault was on (warm after the first was
// due), counts the failures before, and returns the first.
func (c *cell) split(recs []record, warm time.Duration) []record {
	var measured []record
	for _, r := range recs {
		if r.due.Sub(recs[0].due) >= warm {
			measured = append(measured, r)
		} else if r.verdict != verdictOK {
			c.warmBad++
		}
	}
	c.sum = summarize(measured)
	return measured
}

// workLimit is base (the goal's 1.2 × planned work) for a cell measured over at least
// the budget's 10 s window. A shorter cell gets the part of the budget's floor
// (min_per_second × 10 s extra attempts, grantable at any moment) that a full window
// would have spread over its requests: over 3 s at 200 req/s a gateway keeping its
// budget exactly may send 1 + 0.1 + 100/600 per request, and the goal is about the
// gateway, not the length of CI's cells.
func workLimit(base float64, measured time.Duration, requests int) float64 {
	if requests == 0 || measured >= budgetWindow {
		return base
	}
	floor := budgetMinPerSecond * budgetWindow.Seconds()
	return base + floor*(1-measured.Seconds()/budgetWindow.Seconds())/float64(requests)
}

func msString(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func (c *cell) brief() string {
	s := c.sum
	return fmt.Sprintf("success %.2f%% p99 %s backend/req %.3f load %.1f  %s", 100*s.successRate(), msString(s.p99), c.backend, c.load, c.status())
}

// The table, as text for a terminal and as Markdown for docs/faults.md.

var tableHead = []string{"faulty", "fault", "strategy", "requests", "success", "p99 ms", "max ms",
	"backend/req", "arrived/req", "planned", "non-200", "no answer", "cut", "wrong", "hung", "load", "goals"}

func (c *cell) row() []string {
	s := c.sum
	goal := c.status()
	if c.rerun != "" {
		goal += " (" + c.rerun + ")"
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
	return []string{
		fmt.Sprint(c.faulty), c.fault, c.strategy, fmt.Sprint(s.requests),
		fmt.Sprintf("%.2f%%", 100*s.successRate()), ms(s.p99), ms(s.max),
		fmt.Sprintf("%.3f", c.backend), fmt.Sprintf("%.3f", c.arrived), fmt.Sprintf("%.0f", c.planned),
		fmt.Sprint(s.counts[verdictStatus]), fmt.Sprint(s.counts[verdictNone]),
		fmt.Sprint(s.counts[verdictCut]), fmt.Sprint(s.counts[verdictWrong]), fmt.Sprint(s.counts[verdictHung]),
		fmt.Sprintf("%.1f", c.load), goal,
	}
}

func writeTable(w io.Writer, cells []*cell, markdown bool) {
	rows := [][]string{tableHead}
	for _, c := range cells {
		rows = append(rows, c.row())
	}
	if markdown {
		for i, r := range rows {
			fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
			if i == 0 {
				sep := make([]string, len(r))
				for j := range sep {
					sep[j] = "---"
					if j >= 3 && j < len(r)-1 {
						sep[j] = "---:"
					}
				}
				fmt.Fprintf(w, "| %s |\n", strings.Join(sep, " | "))
			}
		}
		return
	}
	width := make([]int, len(tableHead))
	for _, r := range rows {
		for j, v := range r[:len(r)-1] {
			width[j] = max(width[j], len(v))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for j, v := range r {
			if j == len(r)-1 {
				b.WriteString(v)
				break
			}
			if j < 3 {
				fmt.Fprintf(&b, "%-*s  ", width[j], v)
			} else {
				fmt.Fprintf(&b, "%*s  ", width[j], v)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// writeExamples prints, for each cell that missed a goal, the first reason seen per
// kind of failure: what a client saw.
func writeExamples(w io.Writer, cells []*cell) {
	for _, c := range cells {
		if len(c.misses) == 0 {
			continue
		}
		for _, v := range []verdict{verdictStatus, verdictNone, verdictCut, verdictWrong, verdictHung} {
			if ex := c.sum.examples[v]; ex != "" {
				fmt.Fprintf(w, "  %-26s %-6s %s\n", c.name(), v, ex)
			}
		}
	}
}
