package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// matrixFlags are the matrix's own flags.
type matrixFlags struct {
	o                          matrixOptions
	faulty, faults, strategies string
	markdown, known            string
}

func (m *matrixFlags) flags(fs *flag.FlagSet) {
	fs.Float64Var(&m.o.rate, "rate", 200, "client requests per second")
	fs.DurationVar(&m.o.warm, "warm", 2*time.Second, "healthy load before the fault goes on")
	fs.DurationVar(&m.o.measure, "measure", 10*time.Second, "load with the fault on, reported")
	fs.StringVar(&m.faulty, "faulty", "0,1,2", "comma-separated counts of faulty replicas (0: a healthy baseline)")
	fs.StringVar(&m.faults, "faults", "all", "comma-separated faults, or all: latency,bandwidth,reset_peer,timeout,slow_close,limit_data,down")
	fs.StringVar(&m.strategies, "strategies", strings.Join(strategies, ","), "comma-separated route strategies")
	fs.StringVar(&m.markdown, "markdown", "", "also write the table as Markdown to `FILE`")
	fs.StringVar(&m.known, "known", "", "a known-failures `FILE`: goals cells miss because of reported defects (see known.go)")
}

func (m *matrixFlags) parse(s faultSettings) error {
	var errs []error
	if !(m.o.rate > 0 && m.o.rate <= 5000) {
		errs = append(errs, fmt.Errorf("-rate %v: want (0, 5000]", m.o.rate))
	}
	if m.o.warm < 0 || m.o.measure <= 0 || m.o.warm+m.o.measure > 10*time.Minute {
		errs = append(errs, fmt.Errorf("-warm %v -measure %v: want warm ≥ 0, measure > 0, both ≤ 10m", m.o.warm, m.o.measure))
	}
	for f := range strings.SplitSeq(m.faulty, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n >= replicaCount {
			errs = append(errs, fmt.Errorf("-faulty %q: want counts in 0..%d", f, replicaCount-1))
			continue
		}
		m.o.faulty = append(m.o.faulty, n)
	}
	all := s.faults()
	if m.faults == "all" {
		m.o.faults = all
	} else {
		for name := range strings.SplitSeq(m.faults, ",") {
			f, err := faultByName(all, strings.TrimSpace(name))
			if err != nil {
				errs = append(errs, fmt.Errorf("-faults: %w", err))
				continue
			}
			m.o.faults = append(m.o.faults, f)
		}
	}
	for s := range strings.SplitSeq(m.strategies, ",") {
		s = strings.TrimSpace(s)
		if s != "hedge" && s != "parallel" && s != "quorum" {
			errs = append(errs, fmt.Errorf("-strategies: %q is not hedge, parallel or quorum", s))
			continue
		}
		m.o.strategies = append(m.o.strategies, s)
	}
	k, err := readKnown(m.known)
	if err != nil {
		errs = append(errs, fmt.Errorf("-known: %w", err))
	}
	m.o.known = k
	return errors.Join(errs...)
}

func (o *matrixOptions) cellCount() int {
	n := 0
	for _, f := range o.faulty {
		if f == 0 {
			n += len(o.strategies)
		} else {
			n += len(o.faults) * len(o.strategies)
		}
	}
	return n
}

func (m *matrixFlags) run(ctx context.Context, c *common, stdout, stderr io.Writer) int {
	if err := m.parse(c.settings); err != nil {
		fmt.Fprintf(stderr, "faults matrix: %v\n", err)
		return exitUsage
	}
	// Every loop here is bounded: each cell by its schedule and the client's timeout,
	// the whole run by this.
	per := m.o.warm + m.o.measure + routeTimeout + 20*time.Second
	ctx, cancel := context.WithTimeout(ctx, time.Duration(m.o.cellCount())*per)
	defer cancel()

	dir, cleanup, err := c.workdir()
	if err != nil {
		fmt.Fprintf(stderr, "faults matrix: %v\n", err)
		return exitSetup
	}
	env, stop, err := c.setup(dir, stdout)
	if err != nil {
		cleanup(true)
		fmt.Fprintf(stderr, "faults matrix: %v\n", err)
		return exitSetup
	}
	fmt.Fprintf(stdout, "fault matrix: %d cells, %.0f req/s, %v healthy then %v with the fault on; %d-byte answers; logs in %s\n",
		m.o.cellCount(), m.o.rate, m.o.warm, m.o.measure, c.bodySize, dir)
	cells, err := runMatrix(ctx, env, m.o)
	stop()
	failed := m.report(stdout, stderr, cells)
	if err != nil {
		cleanup(true)
		fmt.Fprintf(stderr, "faults matrix: %v (logs in %s)\n", err, dir)
		return exitSetup
	}
	cleanup(failed > 0)
	if failed > 0 {
		fmt.Fprintf(stdout, "logs kept in %s\n", dir)
		return exitMissed
	}
	return exitOK
}

// report prints the table, what clients saw where goals were missed, and the count of
// cells that missed a goal not known to be missed, which it returns.
func (m *matrixFlags) report(stdout, stderr io.Writer, cells []*cell) (failed int) {
	met, known := 0, 0
	for _, cl := range cells {
		switch {
		case len(cl.misses) == 0:
			met++
		case len(cl.unexpected()) == 0:
			known++
		default:
			failed++
		}
	}
	fmt.Fprintln(stdout)
	writeTable(stdout, cells, false)
	if met < len(cells) {
		fmt.Fprintln(stdout, "\nwhat clients saw in the cells that missed a goal (first of each kind):")
		writeExamples(stdout, cells)
	}
	if st := m.o.known.stale(cells); len(st) > 0 {
		fmt.Fprintf(stdout, "\nknown failures that did not happen this time (fixed? then remove them from %s):\n  %s\n", m.known, strings.Join(st, "\n  "))
	}
	if m.markdown != "" {
		f, err := os.Create(m.markdown)
		if err == nil {
			writeTable(f, cells, true)
			err = f.Close()
		}
		if err != nil {
			fmt.Fprintf(stderr, "faults matrix: %v\n", err)
		}
	}
	fmt.Fprintf(stdout, "\nfault matrix: %d met, %d known failures, %d missed a goal\n", met, known, failed)
	return failed
}
