// Command faults runs hedgegate against real faults: Toxiproxy between the gateway and
// each of three replicas. Two subcommands:
//
//	faults matrix -gateway BIN -toxiproxy BIN [flags]   every strategy through every fault
//	faults soak   -gateway BIN -toxiproxy BIN [flags]   a fault on and off every minute
//
// scripts/fault-matrix.sh and scripts/soak.sh build the gateway, install Toxiproxy if
// it is missing and run these; docs/faults.md explains the figures. Everything listens
// on 127.0.0.1, on ports from -base-port (default $FAULTS_BASE_PORT, else 25000):
// +0 the gateway, +1 its admin listener, +10.. the replicas, +20.. the Toxiproxy
// proxies, +30 the Toxiproxy API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

const replicaCount = 3

// Exit codes.
const (
	exitOK     = 0
	exitMissed = 1 // a goal was missed
	exitUsage  = 2
	exitSetup  = 3 // the harness could not run (a port in use, a program missing)
)

func main() {
	// The Toxiproxy client uses http.DefaultClient: bound its calls, so a stuck API
	// cannot hang the run.
	http.DefaultClient.Timeout = 10 * time.Second
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "matrix" && args[0] != "soak") {
		fmt.Fprintln(stderr, "usage: faults matrix|soak -gateway BIN -toxiproxy BIN [flags]; -h for the flags")
		return exitUsage
	}
	fs := flag.NewFlagSet("faults "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.flags(fs)
	if args[0] == "matrix" {
		var m matrixFlags
		m.flags(fs)
		if code, ok := parse(fs, args[1:], &c); !ok {
			return code
		}
		return m.run(ctx, &c, stdout, stderr)
	}
	var s soakFlags
	s.flags(fs)
	if code, ok := parse(fs, args[1:], &c); !ok {
		return code
	}
	return s.run(ctx, &c, stdout, stderr)
}

func parse(fs *flag.FlagSet, args []string, c *common) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if err := c.validate(); err != nil {
		fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
		return exitUsage, false
	}
	return 0, true
}

// common are the flags both subcommands take.
type common struct {
	gatewayBin, toxiproxyBin string
	basePort                 int
	bodySize, keys           int
	latencyLo, latencyHi     time.Duration
	workDir                  string
	settings                 faultSettings
	envErr                   error
}

func (c *common) flags(fs *flag.FlagSet) {
	port := 25000
	if env := os.Getenv("FAULTS_BASE_PORT"); env != "" {
		v, err := strconv.Atoi(env)
		if err != nil {
			c.envErr = fmt.Errorf("FAULTS_BASE_PORT %q is not a port number", env)
		}
		port = v
	}
	fs.StringVar(&c.gatewayBin, "gateway", "", "the gateway `binary` (go build ./cmd/gateway)")
	fs.StringVar(&c.toxiproxyBin, "toxiproxy", "", "the Toxiproxy server `binary` (github.com/Shopify/toxiproxy/v2/cmd/server)")
	fs.IntVar(&c.basePort, "base-port", port, "first of the 31 loopback ports used (default $FAULTS_BASE_PORT, else 25000)")
	fs.IntVar(&c.bodySize, "body", 16<<10, "bytes in every answer")
	fs.IntVar(&c.keys, "keys", 1000, "distinct keys, requested in turn")
	fs.DurationVar(&c.latencyLo, "replica-min", time.Millisecond, "replicas answer after a latency uniform in [replica-min, replica-max]")
	fs.DurationVar(&c.latencyHi, "replica-max", 3*time.Millisecond, "see replica-min")
	fs.StringVar(&c.workDir, "workdir", "", "where configs and logs go (default: a new temporary directory, removed unless a goal is missed)")
	fs.IntVar(&c.settings.latencyMS, "latency-ms", 200, "latency fault: ms added to every answer")
	fs.IntVar(&c.settings.bandwidthKBps, "bandwidth-kbps", 32, "bandwidth fault: KB/s")
	fs.IntVar(&c.settings.slowCloseMS, "slow-close-ms", 2000, "slow_close fault: ms a close is held")
	fs.IntVar(&c.settings.limitBytes, "limit-bytes", 8<<10, "limit_data fault: bytes a connection carries before it is closed")
}

func (c *common) validate() error {
	errs := []error{c.envErr}
	if c.gatewayBin == "" {
		errs = append(errs, errors.New("-gateway is required"))
	}
	if c.toxiproxyBin == "" {
		errs = append(errs, errors.New("-toxiproxy is required"))
	}
	if c.basePort < 1 || c.basePort+30 > 65535 {
		errs = append(errs, fmt.Errorf("-base-port %d: ports %d..%d are not all valid", c.basePort, c.basePort, c.basePort+30))
	}
	if c.bodySize < 256 || c.bodySize > 8<<20 {
		errs = append(errs, fmt.Errorf("-body %d: want 256..8388608", c.bodySize))
	}
	if c.keys < 1 {
		errs = append(errs, fmt.Errorf("-keys %d: want ≥ 1", c.keys))
	}
	if c.latencyLo < 0 || c.latencyHi < c.latencyLo {
		errs = append(errs, fmt.Errorf("replica latency [%v, %v] is not a range", c.latencyLo, c.latencyHi))
	}
	return errors.Join(errs...)
}

func (c *common) addr(offset int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.basePort+offset))
}

// setup starts the replicas and says how to put a Toxiproxy lab in front of them.
// The returned function stops the replicas.
func (c *common) setup(dir string, progress io.Writer) (*matrixEnv, func(), error) {
	env := &matrixEnv{gatewayBin: c.gatewayBin, dir: dir, listen: c.addr(0), admin: c.addr(1), progress: progress,
		lab: labSpec{bin: c.toxiproxyBin, apiPort: c.basePort + 30, proxyPort: c.basePort + 20, dir: dir}}
	stop := func() {
		for _, r := range env.replicas {
			r.close()
		}
	}
	for i := range replicaCount {
		r, err := startReplica(fmt.Sprintf("r%d", i+1), c.addr(10+i), c.bodySize, c.latencyLo, c.latencyHi, uint64(i+1))
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("replica r%d: %w", i+1, err)
		}
		env.replicas = append(env.replicas, r)
		env.lab.upstreams = append(env.lab.upstreams, r.addr())
	}
	client := "http://" + env.listen
	env.client = func() *loadClient { return newLoadClient(client, c.keys, c.bodySize, routeTimeout+2*time.Second) }
	return env, stop, nil
}

// workdir returns c.workDir, or a new temporary directory and a function that removes
// it when asked to.
func (c *common) workdir() (string, func(keep bool), error) {
	if c.workDir != "" {
		return c.workDir, func(bool) {}, os.MkdirAll(c.workDir, 0o755)
	}
	d, err := os.MkdirTemp("", "hedgegate-faults-")
	if err != nil {
		return "", nil, err
	}
	return d, func(keep bool) {
		if !keep {
			os.RemoveAll(d)
		}
	}, nil
}
