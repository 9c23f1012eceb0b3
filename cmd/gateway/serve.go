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
	return serve(signals, *path, stderr, nil)
}

// serve runs the gateway until a SIGTERM or SIGINT arrives on signals, then drains it
// (shutdown in the config); a second one stops it at once. SIGHUP reloads the config.
// ready, if not nil, receives the listeners' addresses once they accept (tests listen
// on port 0).
func serve(signals <-chan os.Signal, path string, stderr io.Writer, ready func(addr, admin string)) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg, err := config.Load(path)
	if err != nil {
		return refuseConfig(stderr, err)
	}
	srv, err := server.New(cfg, server.Options{Logger: log})
	if errors.As(err, new(config.Problems)) {
		// What the router refuses, as gateway validate prints it.
		return refuseConfig(stderr, err)
	}
	if err != nil {
		fmt.Fprintln(stderr, "gateway serve:", err)
		return 1
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintln(stderr, "gateway serve: listen:", err)
		return 1
	}
	adminLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		ln.Close()
		fmt.Fprintln(stderr, "gateway serve: admin listen:", err)
		return 1
	}
	ctx, drain := context.WithCancel(context.Background())
	defer drain()
	done := make(chan struct{})
	defer close(done)
	go handleSignals(signals, done, srv, path, drain, log)
	log.Info("hedgegate serving", "listen", ln.Addr().String(), "admin", adminLn.Addr().String(),
		"routes", len(cfg.Routes), "config", path)
	if ready != nil {
		ready(ln.Addr().String(), adminLn.Addr().String())
	}
	if err := srv.Serve(ctx, ln, adminLn); err != nil {
		log.Error("serve", "err", err)
		return 1
	}
	return 0
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
