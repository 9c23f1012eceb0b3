package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
)

// fault is one way a replica goes bad, made by Toxiproxy between the gateway and it.
// Toxics act on the downstream stream (replica to gateway) unless said otherwise, and
// join connections already open as well as new ones.
type fault struct {
	name string
	// what the fault does, for the table's legend.
	what  string
	apply func(p *toxiproxy.Proxy) error
}

// faultSettings are the figures the faults use; the matrix and the soak print them.
type faultSettings struct {
	latencyMS     int // latency toxic, added to every chunk
	bandwidthKBps int // bandwidth toxic
	slowCloseMS   int // slow_close toxic
	limitBytes    int // limit_data toxic, per connection
}

func (s faultSettings) faults() []fault {
	toxic := func(typ string, attrs toxiproxy.Attributes) func(*toxiproxy.Proxy) error {
		return func(p *toxiproxy.Proxy) error {
			_, err := p.AddToxic(typ, typ, "downstream", 1, attrs)
			return err
		}
	}
	return []fault{
		{"latency", fmt.Sprintf("+%d ms on every answer (latency toxic)", s.latencyMS),
			toxic("latency", toxiproxy.Attributes{"latency": s.latencyMS})},
		{"bandwidth", fmt.Sprintf("answers at %d KB/s (bandwidth toxic): the headers come at once, the body slowly", s.bandwidthKBps),
			toxic("bandwidth", toxiproxy.Attributes{"rate": s.bandwidthKBps})},
		{"reset_peer", "the connection is reset (RST) when the answer starts (reset_peer toxic, timeout 0)",
			toxic("reset_peer", toxiproxy.Attributes{"timeout": 0})},
		{"timeout", "the request is taken and nothing ever comes back (timeout toxic, timeout 0)",
			toxic("timeout", toxiproxy.Attributes{"timeout": 0})},
		{"slow_close", fmt.Sprintf("the replica's close reaches the gateway %d ms late (slow_close toxic)", s.slowCloseMS),
			toxic("slow_close", toxiproxy.Attributes{"delay": s.slowCloseMS})},
		{"limit_data", fmt.Sprintf("each connection is closed after %d bytes: every answer cut mid-body (limit_data toxic)", s.limitBytes),
			toxic("limit_data", toxiproxy.Attributes{"bytes": s.limitBytes})},
		{"down", "the proxy is disabled: connections refused, open ones closed",
			func(p *toxiproxy.Proxy) error { return p.Disable() }},
	}
}

func faultByName(all []fault, name string) (fault, error) {
	var names []string
	for _, f := range all {
		if f.name == name {
			return f, nil
		}
		names = append(names, f.name)
	}
	return fault{}, fmt.Errorf("no fault %q (have %v)", name, names)
}

// lab is a Toxiproxy server with one proxy in front of each of some replicas.
//
// A lab is never healed in place: Toxiproxy 2.5.0 removes a toxic by interrupting it
// on every connection under one lock, and a connection whose client has gone (every
// cancelled loser) makes that wait 5 s, so a reset after a busy cell took minutes
// (Shopify/toxiproxy#412, #558). A fresh server per cell is quicker and leaves no state.
type lab struct {
	proc    *proc
	client  *toxiproxy.Client
	proxies []*toxiproxy.Proxy
}

// labSpec says how to start a lab: the server binary, its API port, the first proxy
// port (proxy i listens on proxyPort+i) and what the proxies lead to.
type labSpec struct {
	bin       string
	apiPort   int
	proxyPort int
	upstreams []string
	dir       string // its log goes to dir/toxiproxy.log, appended
}

func (s labSpec) proxyAddrs() []string {
	out := make([]string, len(s.upstreams))
	for i := range out {
		out[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.proxyPort+i))
	}
	return out
}

func startLab(ctx context.Context, s labSpec) (*lab, error) {
	logf, err := os.OpenFile(filepath.Join(s.dir, "toxiproxy.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	// Its info and debug lines (one per connection) cost more CPU than the proxying.
	p, err := startProc("toxiproxy", logf, []string{"LOG_LEVEL=warn"}, s.bin, "-host", "127.0.0.1", "-port", strconv.Itoa(s.apiPort))
	if err != nil {
		return nil, err
	}
	l := &lab{proc: p}
	api := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.apiPort))
	if err := waitListening(ctx, p, api, 10*time.Second); err != nil {
		l.close()
		return nil, fmt.Errorf("toxiproxy API on %s: %w", api, err)
	}
	l.client = toxiproxy.NewClient(api)
	for i, listen := range s.proxyAddrs() {
		px, err := l.client.CreateProxy(fmt.Sprintf("r%d", i+1), listen, s.upstreams[i])
		if err != nil {
			l.close()
			return nil, fmt.Errorf("toxiproxy proxy %s → %s: %w", listen, s.upstreams[i], err)
		}
		l.proxies = append(l.proxies, px)
	}
	return l, nil
}

// inject puts f on the first n proxies.
func (l *lab) inject(f fault, n int) error {
	for _, p := range l.proxies[:n] {
		if err := f.apply(p); err != nil {
			return fmt.Errorf("%s on %s: %w", f.name, p.Name, err)
		}
	}
	return nil
}

// close kills the server, and with it every connection through it. A nil lab (one
// that failed to start) has nothing to close.
func (l *lab) close() {
	if l != nil {
		l.proc.kill()
	}
}
