package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// soakFlags are the soak's own flags.
type soakFlags struct {
	duration, period, sample time.Duration
	rate                     float64
	fault                    string
	faulty                   int
}

func (s *soakFlags) flags(fs *flag.FlagSet) {
	fs.DurationVar(&s.duration, "duration", 10*time.Minute, "length of the soak")
	fs.DurationVar(&s.period, "period", time.Minute, "the fault goes on, or off, at the start of every period after the first")
	fs.DurationVar(&s.sample, "sample", 10*time.Second, "how often the gateway's goroutines, descriptors and RSS are sampled")
	fs.Float64Var(&s.rate, "rate", 200, "client requests per second, spread over the hedge, parallel and quorum routes")
	fs.StringVar(&s.fault, "fault", "timeout", "the fault switched on and off: latency, bandwidth, reset_peer, timeout, slow_close, limit_data or down")
	fs.IntVar(&s.faulty, "faulty", 1, "replicas with the fault")
}

// Flatness rules per resource: 10% of the second period's median, plus a slack for
// small counts. Stride 2: the fault is on in every other period.
var soakRules = map[string]flatRule{
	"goroutines": {Tolerance: 0.10, Slack: 20, Stride: 2},
	"threads":    {Tolerance: 0.10, Slack: 4, Stride: 2},
	"fds":        {Tolerance: 0.10, Slack: 10, Stride: 2},
	"rss_kb":     {Tolerance: 0.10, Slack: 5 << 10, Stride: 2},
}

// soakSample is one look at the gateway process.
type soakSample struct {
	at         time.Duration
	faultOn    bool
	goroutines int // -1: the gateway does not say
	procStats
}

func (s *soakFlags) validate() error {
	var errs []error
	if s.period <= 0 || s.sample <= 0 || s.sample > s.period {
		errs = append(errs, fmt.Errorf("-period %v -sample %v: want 0 < sample ≤ period", s.period, s.sample))
	} else if n := s.duration / s.period; n < 6 || s.duration%s.period != 0 || n > 1000 {
		errs = append(errs, fmt.Errorf("-duration %v: want a whole number of periods, at least 6 (and at most 1000)", s.duration))
	}
	if !(s.rate > 0 && s.rate <= 5000) {
		errs = append(errs, fmt.Errorf("-rate %v: want (0, 5000]", s.rate))
	}
	if s.faulty < 1 || s.faulty >= replicaCount {
		errs = append(errs, fmt.Errorf("-faulty %d: want 1..%d", s.faulty, replicaCount-1))
	}
	return errors.Join(errs...)
}

func (s *soakFlags) run(ctx context.Context, c *common, stdout, stderr io.Writer) int {
	f, err := faultByName(c.settings.faults(), s.fault)
	if err == nil {
		err = s.validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "faults soak: %v\n", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, s.duration+2*time.Minute)
	defer cancel()
	dir, cleanup, err := c.workdir()
	if err != nil {
		fmt.Fprintf(stderr, "faults soak: %v\n", err)
		return exitSetup
	}
	rig, err := s.start(ctx, c, dir, stdout)
	if err != nil {
		cleanup(true)
		fmt.Fprintf(stderr, "faults soak: %v\n", err)
		return exitSetup
	}
	defer rig.close()
	fmt.Fprintf(stdout, "soak: %v at %.0f req/s over %s; %s on %d replica(s) in every other %v (%s); sampled every %v; goroutines from %s; logs in %s\n",
		s.duration, s.rate, strings.Join(rig.routes, " "), f.name, s.faulty, s.period, f.what, s.sample, rig.source, dir)

	cl := rig.env.client()
	cl.routes = rig.routes
	defer cl.close()
	recsCh := make(chan []record, 1)
	start := time.Now()
	go func() { recsCh <- cl.run(ctx, s.rate, s.duration, nil) }()
	samples, err := s.drive(ctx, start, rig, f)
	recs := <-recsCh
	stopErr := rig.gw.stop()
	if err != nil {
		cleanup(true)
		fmt.Fprintf(stderr, "faults soak: %v (logs in %s)\n", err, dir)
		return exitSetup
	}
	good := s.report(stdout, start, recs, samples, rig.source != noGoroutines)
	if stopErr != nil {
		fmt.Fprintf(stdout, "gateway: %v\n", stopErr)
		good = false
	}
	cleanup(!good)
	if !good {
		fmt.Fprintf(stdout, "logs kept in %s\n", dir)
		return exitMissed
	}
	return exitOK
}

// soakRig is what a soak runs on: replicas, a lab in front of the faulty ones, and a
// gateway with a hedge, a parallel and a quorum route.
type soakRig struct {
	env    *matrixEnv
	stop   func() // stops the replicas
	spec   labSpec
	lab    *lab // replaced by drive each time the fault goes off
	gw     *gateway
	routes []string // the routes' path prefixes
	source string   // where goroutine counts come from
}

const noGoroutines = "nowhere (no /debug/pprof, no go_goroutines): OS threads from /proc stand in"

func (s *soakFlags) start(ctx context.Context, c *common, dir string, progress io.Writer) (*soakRig, error) {
	env, stop, err := c.setup(dir, progress)
	if err != nil {
		return nil, err
	}
	r := &soakRig{env: env, stop: stop}
	var routes strings.Builder
	for _, st := range strategies {
		r.routes = append(r.routes, "/"+st)
		routes.WriteString(routeYAML(st, "/"+st))
	}
	extra := ""
	if pprofAvailable(ctx, c.gatewayBin, dir) {
		extra = "debug: {pprof: true}\n"
	}
	// Only the faulty replicas go through Toxiproxy: switching the fault off means a
	// fresh Toxiproxy server (see lab), and that must not touch the healthy ones.
	r.spec = env.lab
	r.spec.upstreams = r.spec.upstreams[:s.faulty]
	addrs := append(r.spec.proxyAddrs(), env.lab.upstreams[s.faulty:]...)
	if r.lab, err = startLab(ctx, r.spec); err != nil {
		r.close()
		return nil, err
	}
	yaml := gatewayYAML(env.listen, env.admin, addrs, routes.String(), extra)
	if r.gw, err = startGateway(ctx, c.gatewayBin, dir, "soak", yaml, env.admin); err != nil {
		r.close()
		return nil, err
	}
	r.source = noGoroutines
	if _, src, ok := r.gw.goroutines(); ok {
		r.source = src
	}
	return r, nil
}

func (r *soakRig) close() {
	if r.gw != nil {
		r.gw.proc.kill()
	}
	r.lab.close()
	r.stop()
}

// drive switches the fault at every period boundary (on in periods 1, 3, 5, ...) and
// samples the gateway half a sample interval into each interval, until the soak ends.
// Off is a fresh lab in the rig's: its connections reset, its proxies clean.
func (s *soakFlags) drive(ctx context.Context, start time.Time, rig *soakRig, f fault) ([]soakSample, error) {
	type event struct {
		at     time.Duration
		toggle bool
	}
	var events []event
	for t := s.period; t < s.duration; t += s.period {
		events = append(events, event{at: t, toggle: true})
	}
	for t := s.sample / 2; t < s.duration; t += s.sample {
		events = append(events, event{at: t})
	}
	slices.SortStableFunc(events, func(a, b event) int { return int(a.at - b.at) })
	var samples []soakSample
	on := false
	for _, e := range events {
		select {
		case <-time.After(time.Until(start.Add(e.at))):
		case <-ctx.Done():
			return samples, ctx.Err()
		}
		if e.toggle {
			var err error
			if on = !on; on {
				err = rig.lab.inject(f, s.faulty)
			} else {
				rig.lab.close()
				rig.lab, err = startLab(ctx, rig.spec)
			}
			if err != nil {
				return samples, err
			}
			continue
		}
		ps, err := readProcStats(rig.gw.proc.pid())
		if err != nil {
			return samples, fmt.Errorf("sampling the gateway: %w", err)
		}
		n, _, ok := rig.gw.goroutines()
		if !ok {
			n = -1
		}
		samples = append(samples, soakSample{at: e.at, faultOn: on, goroutines: n, procStats: ps})
	}
	return samples, nil
}

// report prints the samples, a row per period, and the flatness verdicts, and says
// whether the soak passed: every resource flat, no wrong answer, no hang.
func (s *soakFlags) report(w io.Writer, start time.Time, recs []record, samples []soakSample, haveGoroutines bool) bool {
	periods := int(s.duration / s.period)
	fmt.Fprintf(w, "\nsamples (every %v):\n%8s %5s %10s %7s %5s %8s\n", s.sample, "t", "fault", "goroutines", "threads", "fds", "rss MiB")
	for _, sm := range samples {
		g := "-"
		if sm.goroutines >= 0 {
			g = fmt.Sprint(sm.goroutines)
		}
		fmt.Fprintf(w, "%8v %5s %10s %7d %5d %8.1f\n", sm.at, onOff(sm.faultOn), g, sm.threads, sm.fds, float64(sm.rssKB)/1024)
	}
	answersGood := s.reportPeriods(w, start, recs, periods)
	flat := s.reportFlat(w, samples, periods, haveGoroutines)
	return answersGood && flat
}

// reportPeriods prints what clients got in each period and says whether no answer
// was wrong and none hung.
func (s *soakFlags) reportPeriods(w io.Writer, start time.Time, recs []record, periods int) bool {
	byPeriod := make([][]record, periods)
	for _, r := range recs {
		i := min(int(r.due.Sub(start)/s.period), periods-1)
		byPeriod[i] = append(byPeriod[i], r)
	}
	good := true
	fmt.Fprintf(w, "\nper period:\n%6s %5s %8s %9s %9s %7s %5s %5s %5s %5s\n", "period", "fault", "requests", "success", "p99 ms", "non-200", "none", "cut", "wrong", "hung")
	for i, rs := range byPeriod {
		sum := summarize(rs)
		fmt.Fprintf(w, "%6d %5s %8d %8.3f%% %9.1f %7d %5d %5d %5d %5d\n", i+1, onOff(i%2 == 1), sum.requests, 100*sum.successRate(),
			float64(sum.p99)/float64(time.Millisecond), sum.counts[verdictStatus], sum.counts[verdictNone],
			sum.counts[verdictCut], sum.counts[verdictWrong], sum.counts[verdictHung])
		for _, v := range []verdict{verdictStatus, verdictNone, verdictCut, verdictWrong, verdictHung} {
			if ex := sum.examples[v]; ex != "" {
				fmt.Fprintf(w, "       %s: %s\n", v, ex)
			}
		}
		good = good && sum.counts[verdictWrong]+sum.counts[verdictHung] == 0
	}
	return good
}

// reportFlat applies soakRules to each resource and says whether all ended flat.
func (s *soakFlags) reportFlat(w io.Writer, samples []soakSample, periods int, haveGoroutines bool) bool {
	resources := []struct {
		name string
		get  func(soakSample) float64
	}{
		{"goroutines", func(s soakSample) float64 { return float64(s.goroutines) }},
		{"threads", func(s soakSample) float64 { return float64(s.threads) }},
		{"fds", func(s soakSample) float64 { return float64(s.fds) }},
		{"rss_kb", func(s soakSample) float64 { return float64(s.rssKB) }},
	}
	fmt.Fprintf(w, "\nflat: the last fault-on period's median ≤ the second period's (the first with the fault on) × (1+tolerance) + slack,\n"+
		"and the fault-on periods' medians not rising at every step\n")
	good := true
	for _, res := range resources {
		if res.name == "goroutines" && !haveGoroutines {
			fmt.Fprintf(w, "%-10s not available from this gateway (threads stand in)\n", res.name)
			continue
		}
		per := make([][]float64, periods)
		for _, sm := range samples {
			i := min(int(sm.at/s.period), periods-1)
			per[i] = append(per[i], res.get(sm))
		}
		rule := soakRules[res.name]
		v, err := rule.judgeFlat(per)
		if err != nil {
			fmt.Fprintf(w, "%-10s %v\n", res.name, err)
			good = false
			continue
		}
		verdict := "flat"
		if !v.flat {
			verdict, good = "NOT FLAT", false
		}
		fmt.Fprintf(w, "%-10s second %.0f, last %.0f, bound %.0f (+%.0f%% +%.0f), rising %v, period medians %v: %s\n",
			res.name, v.second, v.last, v.bound, 100*rule.Tolerance, rule.Slack, v.rising, v.medians, verdict)
	}
	return good
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// pprofAvailable says whether this gateway accepts debug.pprof in its config (the
// key arrives with the second wave); validate is the gateway's own judge of that.
func pprofAvailable(ctx context.Context, bin, dir string) bool {
	cfg := filepath.Join(dir, "pprof-probe.yaml")
	yaml := "listen: 127.0.0.1:1\nadmin_listen: 127.0.0.1:2\ndebug: {pprof: true}\nreplica_sets:\n  kv:\n    replicas: [{name: r1, url: \"http://127.0.0.1:3\"}]\nroutes:\n  - {name: kv, match: \"/kv/{key}\", replica_set: kv}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, bin, "validate", "-config", cfg).Run() == nil
}
