package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/server"
)

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gateway serve", serveUsage, stdout, stderr)
	path := fs.String("config", "", "config `FILE` (YAML)")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if *path == "" {
		return fs.usageError("-config FILE is required")
	}
	if fs.NArg() > 0 {
		return fs.usageError("unexpected argument %q", fs.Arg(0))
	}
	// Before anything else: a SIGHUP during start-up must not kill the process (the
	// default action); it is handled once the server runs.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(signals)
	raiseHeapFloor()
	return serve(signals, *path, stderr, nil)
}

// listening is where serve's listeners accept; metrics is "" without metrics_listen.
type listening struct{ client, admin, metrics string }

// serve runs the gateway until a SIGTERM or SIGINT arrives on signals, then drains it
// (shutdown in the config); a second one stops it at once. SIGHUP reloads the config.
// Logs go to stderr as the config's log section says. ready, if not nil, receives the
// listeners' addresses once they accept (tests listen on port 0).
func serve(signals <-chan os.Signal, path string, stderr io.Writer, ready func(listening)) int {
	cfg, err := config.Load(path)
	if err != nil {
		return refuseConfig(stderr, err)
	}
	log, level := server.NewLogger(stderr, cfg.Log)
	srv, err := server.New(cfg, server.Options{Logger: log, LogLevel: level})
	if errors.As(err, new(config.Problems)) {
		// What the router refuses, as gateway validate prints it.
		return refuseConfig(stderr, err)
	}
	if err != nil {
		fmt.Fprintln(stderr, "gateway serve:", err)
		return 1
	}
	lns, err := listen(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "gateway serve:", err)
		return 1
	}
	ctx, drain := context.WithCancel(context.Background())
	defer drain()
	done := make(chan struct{})
	defer close(done)
	go handleSignals(signals, done, srv, path, drain, log)
	at := listening{client: lns.Client.Addr().String(), admin: lns.Admin.Addr().String()}
	if lns.Metrics != nil {
		at.metrics = lns.Metrics.Addr().String()
	}
	log.Info("hedgegate serving", "listen", at.client, "tls", cfg.TLS.Enabled(), "h2c", cfg.H2C,
		"admin", at.admin, "metrics", at.metrics, "routes", len(cfg.Routes), "config", path)
	if ready != nil {
		ready(at)
	}
	if err := srv.ServeListeners(ctx, lns); err != nil {
		log.Error("serve", "err", err)
		return 1
	}
	return 0
}

// listen opens the config's listeners, or none of them.
func listen(cfg *config.Config) (server.Listeners, error) {
	var lns server.Listeners
	var opened []net.Listener
	for _, l := range []struct {
		key, addr string
		to        *net.Listener
	}{
		{"listen", cfg.Listen, &lns.Client},
		{"admin_listen", cfg.AdminListen, &lns.Admin},
		{"metrics_listen", cfg.MetricsListen, &lns.Metrics},
	} {
		if l.addr == "" {
			continue // metrics_listen is optional
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			for _, o := range opened {
				o.Close()
			}
			return server.Listeners{}, fmt.Errorf("%s: %w", l.key, err)
		}
		opened = append(opened, ln)
		*l.to = ln
	}
	return lns, nil
}

// refuseConfig prints a config's problems one per line (or an unreadable file's
// error) and the refusal, and returns serve's exit code.
func refuseConfig(stderr io.Writer, err error) int {
	var problems config.Problems
	if errors.As(err, &problems) {
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
	} else {
		fmt.Fprintln(stderr, err)
	}
	fmt.Fprintln(stderr, "gateway serve: refusing to start with an invalid config")
	return 1
}

// handleSignals acts on signals until done: SIGHUP reloads; the first SIGTERM or
// SIGINT starts the drain, the next stops the gateway at once.
func handleSignals(signals <-chan os.Signal, done <-chan struct{}, srv *server.Server, path string,
	drain func(), log *slog.Logger) {
	draining := false
	for {
		select {
		case <-done:
			return
		case sig := <-signals:
			switch {
			case sig == syscall.SIGHUP:
				srv.Reload(path) // logs its outcome; a refused file leaves the config as it was
			case !draining:
				draining = true
				log.Info("signal: draining; send it again to stop at once", "signal", sig.String())
				drain()
			default:
				log.Warn("second signal: stopping at once", "signal", sig.String())
				srv.Close()
			}
		}
	}
}
