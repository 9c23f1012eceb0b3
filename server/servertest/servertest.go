// Package servertest runs a hedgegate gateway on loopback listeners, for tests
// and for the in-process demo, as net/http/httptest runs an http.Server: Start
// serves a config on two fresh 127.0.0.1 ports and returns once the gateway is
// ready; Close drains it. New does the same for a test, failing it on error and
// closing the gateway when the test ends.
package servertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/server"
)

// ReadyTimeout bounds how long Start waits for every replica set to open its warm
// connections.
const ReadyTimeout = 10 * time.Second

// Gateway is a gateway serving on loopback.
type Gateway struct {
	// Server is the running gateway, for Reload, Config and Ready.
	Server *server.Server
	// URL is the client listener, http://127.0.0.1:PORT (no trailing slash).
	URL string
	// AdminURL is the admin listener, http://127.0.0.1:PORT: /metrics, /readyz, /debug/...
	AdminURL string

	stop      context.CancelFunc
	wg        sync.WaitGroup
	serveErr  error
	closeOnce sync.Once
}

// Start serves cfg on 127.0.0.1:0 (cfg's listen addresses are ignored) and
// returns once Server.Ready reports every replica set warm. A nil opts.Logger
// discards the gateway's logs, which a test or the demo does not show.
func Start(cfg *config.Config, opts server.Options) (*Gateway, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// Listeners first: a Server is only closed by Serve returning, so nothing may
	// fail between New and Serve.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv, err := server.New(cfg, opts)
	if err != nil {
		ln.Close()
		adminLn.Close()
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	g := &Gateway{
		Server:   srv,
		URL:      "http://" + ln.Addr().String(),
		AdminURL: "http://" + adminLn.Addr().String(),
		stop:     stop,
	}
	g.wg.Go(func() { g.serveErr = srv.Serve(ctx, ln, adminLn) })
	if err := g.waitReady(); err != nil {
		return nil, errors.Join(err, g.Close())
	}
	return g, nil
}

// waitReady polls Ready a bounded number of times.
func (g *Gateway) waitReady() error {
	const poll = 10 * time.Millisecond
	for range int(ReadyTimeout / poll) {
		if g.Server.Ready() {
			return nil
		}
		time.Sleep(poll)
	}
	return fmt.Errorf("gateway not ready after %v: a replica set could not open its warm connections", ReadyTimeout)
}

// Close stops the gateway as a SIGTERM would (it drains requests in flight) and
// returns Serve's error. It is safe to call more than once.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		g.stop()
		g.wg.Wait()
	})
	return g.serveErr
}

// TB is the part of testing.TB that New uses, so that this package, which the
// demo links, does not import testing.
type TB interface {
	Helper()
	Fatal(args ...any)
	Errorf(format string, args ...any)
	Cleanup(func())
}

// New is Start for a test: it fails t if the gateway cannot start, and closes it
// when the test ends, reporting a Serve error as a test error.
func New(t TB, cfg *config.Config, opts server.Options) *Gateway {
	t.Helper()
	g, err := Start(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return g
}
