package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/server"
)

// runValidate checks a config file the way serve and SIGHUP load it. Problems go to
// stdout, one per line and nothing else, so scripts and editors can consume them;
// usage errors go to stderr with exit 2.
func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file to check (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gateway validate -config FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *path == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		// Problems print one per line; an unreadable file prints "FILE: reason".
		fmt.Fprintln(stdout, err)
		return 1
	}
	// The routes compiled as serve and reload compile them: what chi refuses.
	if problems := server.CheckRoutes(cfg); len(problems) > 0 {
		fmt.Fprintln(stdout, problems)
		return 1
	}
	fmt.Fprintln(stdout, "config OK")
	return 0
}
