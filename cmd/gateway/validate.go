package main

import (
	"fmt"
	"io"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/server"
)

// runValidate checks a config file the way serve and SIGHUP load it. Problems go to
// stdout, one per line and nothing else, so scripts and editors can consume them;
// usage errors go to stderr with exit 2.
func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gateway validate", validateUsage, stdout, stderr)
	path := fs.String("config", "", "config `FILE` to check (required)")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if *path == "" || fs.NArg() > 0 {
		return fs.usageError("")
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
