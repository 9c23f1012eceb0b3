package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// httpTimeouts bound one listener's connections.
type httpTimeouts struct {
	readHeader, read, write, idle time.Duration
}

// adminTimeouts (also the metrics listener's): admin requests are small and quick, but a CPU profile streams for as
// long as it was asked (up to a minute is usual), and Prometheus keeps its scrape
// connection open between scrapes (15-60s apart).
var adminTimeouts = httpTimeouts{readHeader: 10 * time.Second, read: 30 * time.Second,
	write: 2 * time.Minute, idle: 2 * time.Minute}

// adminCloseWait is how long the admin and metrics listeners' requests may finish
// once the client side has drained.
const adminCloseWait = time.Second

// Serve runs the gateway on ln and the admin endpoints on adminLn: ServeListeners
// without a metrics listener.
func (s *Server) Serve(ctx context.Context, ln, adminLn net.Listener) error {
	return s.ServeListeners(ctx, Listeners{Client: ln, Admin: adminLn})
}

// ServeListeners runs the gateway on l until ctx ends, then drains as shutdown says
// (DESIGN.md): /readyz turns 503 at once; clients are served for
// shutdown.drain_delay, every answer with Connection: close (over HTTP/2, that makes
// net/http send GOAWAY, so the client opens its next stream on a new connection);
// then the client listener closes and requests in flight get up to shutdown.timeout
// before they are cut off. Close stops all of it at once. The admin and metrics
// listeners serve until the client side is done, so probes see the 503 and scrapes
// see the drain. Replica connections close, then the spans still queued are exported,
// within the drain's drain_delay + timeout.
func (s *Server) ServeListeners(ctx context.Context, l Listeners) error {
	cfg := s.Config()
	errLog := serverErrorLog(s.log)
	client := s.clientServer(cfg, errLog)
	control := []*http.Server{s.controlServer(s.AdminHandler(), errLog)}
	controlLn := []net.Listener{l.Admin}
	if l.Metrics != nil {
		control = append(control, s.controlServer(s.MetricsHandler(), errLog))
		controlLn = append(controlLn, l.Metrics)
	}
	s.tracing.start(s.log)
	warmCtx, stopWarm := context.WithCancel(ctx)
	// Discovery follows the members until the clients are drained: members leaving
	// during the drain must not get its requests.
	discCtx, stopDiscovery := context.WithCancel(context.Background())
	defer stopDiscovery()
	var wg sync.WaitGroup
	wg.Go(func() { s.keepWarm(warmCtx) })
	wg.Go(func() { s.discover(discCtx) })
	errc := make(chan error, 1+len(control))
	wg.Go(func() { errc <- serveClient(client, l.Client) })
	for i, srv := range control {
		wg.Go(func() { errc <- srv.Serve(controlLn[i]) })
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc: // a listener failed: nothing to wait for
	case <-s.stopNow:
	}
	stopWarm()
	s.draining.Store(true)
	sd := s.Config().Shutdown
	flushBy := time.Now().Add(sd.DrainDelay.D() + sd.Timeout.D())
	if err == nil {
		err = s.drainClients(client)
	} else {
		client.Close()
	}
	stopDiscovery()
	closeCtx, cancel := context.WithTimeout(context.Background(), adminCloseWait)
	for _, srv := range control {
		if srv.Shutdown(closeCtx) != nil {
			srv.Close()
		}
	}
	cancel()
	wg.Wait()
	st := s.state.Load()
	for _, rt := range st.routes {
		rt.plan.Close() // an auto route's retune, if one is running
	}
	for _, set := range st.sets {
		set.Close()
	}
	s.flushTraces(flushBy)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// drainClients is the client side of a shutdown: drain_delay with the listener open, then
// the listener closed and the wait for requests in flight.
func (s *Server) drainClients(client *http.Server) error {
	sd := s.Config().Shutdown
	s.log.Info("draining: /readyz 503, answers close their connections; a second signal stops at once",
		"drain_delay", sd.DrainDelay.D(), "timeout", sd.Timeout.D())
	delay := time.NewTimer(sd.DrainDelay.D())
	select {
	case <-delay.C:
	case <-s.stopNow:
		delay.Stop()
	}
	var wg sync.WaitGroup
	defer wg.Wait() // deferred first so that it runs after cancel
	ctx, cancel := context.WithTimeout(context.Background(), sd.Timeout.D())
	defer cancel()
	wg.Go(func() {
		select {
		case <-s.stopNow:
			cancel()
		case <-ctx.Done():
		}
	})
	s.log.Info("listener closed; waiting for requests in flight", "inflight", s.inflight.Load())
	err := client.Shutdown(ctx)
	if err == nil {
		s.log.Info("drained")
		return nil
	}
	left := s.inflight.Load()
	client.Close() // cut off what is left
	select {
	case <-s.stopNow:
		s.log.Warn("stopped at once on request; requests in flight were cut off", "inflight", left)
		return nil
	default:
		return fmt.Errorf("drain: %d requests still in flight after shutdown.timeout %s were cut off", left, sd.Timeout.D())
	}
}

// Close stops the gateway at once: Serve closes its listeners and every connection,
// cutting off requests in flight, and returns. It is what a second SIGTERM does. Safe
// to call more than once, and before Serve.
func (s *Server) Close() {
	s.stopOnce.Do(func() { close(s.stopNow) })
}
