package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/hedgegate/hedgegate/sim"
)

func runSim(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runSimContext(ctx, args, stdout, stderr)
}

// simReplicaFlags collects repeated -replica NAME=overrides values.
type simReplicaFlags []string

func (f *simReplicaFlags) String() string     { return strings.Join(*f, " ") }
func (f *simReplicaFlags) Set(v string) error { *f = append(*f, v); return nil }

// runSimContext runs `gateway sim` until ctx is done; tests cancel ctx instead
// of sending a signal.
func runSimContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f simFlags
	fs := newFlagSet("gateway sim", simUsage, stdout, stderr)
	fs.IntVar(&f.replicas, "replicas", 3, "number of replicas, named r1..rN")
	fs.IntVar(&f.basePort, "base-port", 9101, "replica i listens on 127.0.0.1:base+i-1; 0 picks free ports")
	fs.StringVar(&f.latency, "latency", "fixed:1ms", `base latency: "fixed:1ms", "uniform:1ms-3ms" or "lognormal:median=2ms,sigma=0.5"`)
	fs.StringVar(&f.tail, "tail", "", `tail as PROB:EXTRA, e.g. "0.02:50ms" (2% of answers wait 50ms more)`)
	fs.Float64Var(&f.errorRate, "error-rate", 0, "probability (0..1) of answering 500")
	fs.Float64Var(&f.stale, "stale", 0, "fraction (0..1) of keys served one version behind")
	fs.StringVar(&f.hang, "hang", "", "comma-separated replicas that start in hang mode, e.g. r2")
	fs.StringVar(&f.refuse, "refuse", "", "comma-separated replicas that start in refuse mode")
	seed := fs.Uint64("seed", 1, "random seed (latency draws, errors, which keys are stale)")
	fs.Var(&f.overrides, "replica", "per-replica profile, repeatable: NAME=latency=D,tail=P:E,error=P,stale=F,mode=normal|hang|refuse")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return fs.usageError("unexpected argument %q", fs.Arg(0))
	}
	specs, err := f.specs()
	if err != nil {
		fmt.Fprintf(stderr, "gateway sim: %v\n", err)
		return 2
	}

	cluster, err := sim.NewCluster(specs, *seed)
	if err != nil {
		fmt.Fprintf(stderr, "gateway sim: %v\n", err)
		return 1
	}
	for _, r := range cluster.Replicas() {
		fmt.Fprintf(stdout, "%s %s control %s/_sim/ %s\n", r.Name(), r.URL(), r.URL(), r.Profile())
	}
	fmt.Fprintf(stderr, "gateway sim: %d replicas running; interrupt to stop\n", len(specs))

	<-ctx.Done()
	err = cluster.Close()
	var served []string
	for _, r := range cluster.Replicas() {
		served = append(served, fmt.Sprintf("%s=%d", r.Name(), r.Served()))
	}
	fmt.Fprintf(stderr, "gateway sim: stopped; served %s\n", strings.Join(served, " "))
	if err != nil {
		fmt.Fprintf(stderr, "gateway sim: %v\n", err)
		return 1
	}
	return 0
}

// simFlags are gateway sim's flags that shape the replicas.
type simFlags struct {
	replicas, basePort int
	latency, tail      string
	errorRate, stale   float64
	hang, refuse       string
	overrides          simReplicaFlags
}

// baseProfile is every replica's profile before -hang, -refuse and -replica.
func (f *simFlags) baseProfile() (sim.Profile, error) {
	var base sim.Profile
	var err error
	if base.Latency, err = sim.ParseDist(f.latency); err != nil {
		return base, fmt.Errorf("-latency: %w", err)
	}
	if base.TailProb, base.TailExtra, err = sim.ParseTail(f.tail); err != nil {
		return base, fmt.Errorf("-tail: %w", err)
	}
	base.ErrorRate, base.StaleFraction = f.errorRate, f.stale
	return base, base.Validate()
}

// specs builds the replicas' specs. The most specific setting wins: the global
// flags, then -hang/-refuse, then each -replica override in order.
func (f *simFlags) specs() ([]sim.Spec, error) {
	n, basePort := f.replicas, f.basePort
	if n < 1 || n > 1000 {
		return nil, fmt.Errorf("-replicas %d: want 1..1000", n)
	}
	if basePort < 0 || basePort+n-1 > 65535 {
		return nil, fmt.Errorf("-base-port %d: ports %d..%d are not all valid", basePort, basePort, basePort+n-1)
	}
	base, err := f.baseProfile()
	if err != nil {
		return nil, err
	}

	specs := make([]sim.Spec, n)
	index := make(map[string]int, n)
	for i := range specs {
		name := "r" + strconv.Itoa(i+1)
		addr := "127.0.0.1:0"
		if basePort != 0 {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(basePort+i))
		}
		specs[i] = sim.Spec{Name: name, Profile: base, Addr: addr}
		index[name] = i
	}
	lookup := func(flagName, name string) (*sim.Spec, error) {
		i, ok := index[name]
		if !ok {
			return nil, fmt.Errorf("%s: no replica %q (replicas are r1..r%d)", flagName, name, n)
		}
		return &specs[i], nil
	}
	for _, m := range []struct{ flag, list, mode string }{
		{"-hang", f.hang, sim.ModeHang}, {"-refuse", f.refuse, sim.ModeRefuse},
	} {
		if m.list == "" {
			continue
		}
		for name := range strings.SplitSeq(m.list, ",") {
			s, err := lookup(m.flag, strings.TrimSpace(name))
			if err != nil {
				return nil, err
			}
			s.Profile.Mode = m.mode
		}
	}
	for _, o := range f.overrides {
		name, spec, ok := strings.Cut(o, "=")
		if !ok {
			return nil, fmt.Errorf("-replica %q: want NAME=key=value,...", o)
		}
		s, err := lookup("-replica", name)
		if err != nil {
			return nil, err
		}
		if s.Profile, err = s.Profile.WithOverrides(spec); err != nil {
			return nil, fmt.Errorf("-replica %s: %w", name, err)
		}
	}
	return specs, nil
}
