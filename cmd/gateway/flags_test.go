package main

import (
	"strings"
	"testing"
)

// subcommands are every command with flags, as typed after "gateway".
var subcommands = [][]string{
	{"serve"}, {"validate"}, {"sim"}, {"loadtest"}, {"loadtest", "compare"}, {"demo"}, {"tune"},
}

// -h, -help and --help print the usage, flags included, to stdout and exit 0,
// as `go help` style tools do.
func TestHelpPrintsUsageToStdout(t *testing.T) {
	for _, cmd := range subcommands {
		for _, h := range []string{"-h", "-help", "--help"} {
			name := strings.Join(cmd, " ")
			t.Run(name+" "+h, func(t *testing.T) {
				var stdout, stderr strings.Builder
				code := run(append(append([]string(nil), cmd...), h), &stdout, &stderr)
				if code != 0 {
					t.Errorf("exit %d, want 0", code)
				}
				out := stdout.String()
				if !strings.HasPrefix(out, "usage: gateway "+name) || !strings.Contains(out, "\nflags:\n  -") {
					t.Errorf("stdout lacks the usage and flags:\n%s", out)
				}
				if stderr.Len() != 0 {
					t.Errorf("stderr %q, want nothing", stderr.String())
				}
			})
		}
	}
}

// A flag error prints the error and the usage to stderr, nothing to stdout, and
// exits 2.
func TestFlagErrorExits2(t *testing.T) {
	for _, cmd := range subcommands {
		name := strings.Join(cmd, " ")
		t.Run(name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(append(append([]string(nil), cmd...), "-no-such-flag"), &stdout, &stderr)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			errOut := stderr.String()
			if !strings.Contains(errOut, "flag provided but not defined: -no-such-flag") ||
				!strings.Contains(errOut, "usage: gateway "+name) {
				t.Errorf("stderr lacks the error and the usage:\n%s", errOut)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

// serve -h is the operator's first stop: it says what each signal does, what each
// listener serves, and where the docs are.
func TestServeHelpNamesSignalsEndpointsAndDocs(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := run([]string{"serve", "-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"SIGHUP", "reload", "SIGTERM, SIGINT", "drain", "a second signal", "stop at once",
		"/metrics", "/healthz", "/readyz", "/debug/replicas", "/debug/config", "/debug/advisor", "POST /reload",
		"docs/config.md", "-config FILE",
		// Each listener and what it serves; the drain's keys; the listeners' docs.
		"client listener (listen)", "tls", "h2c", "metrics listener (metrics_listen",
		"shutdown.drain_delay", "shutdown.timeout", "GOAWAY", "docs/listeners.md",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("serve -h lacks %q:\n%s", want, stdout.String())
		}
	}
}

// serve with a missing -config or a stray argument is a usage error, like the
// other subcommands.
func TestServeUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "-config FILE is required"},
		{[]string{"-config", "gw.yaml", "extra"}, `unexpected argument "extra"`},
	} {
		var stdout, stderr strings.Builder
		if code := run(append([]string{"serve"}, tc.args...), &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2", tc.args, code)
		}
		if !strings.Contains(stderr.String(), tc.want) || !strings.Contains(stderr.String(), "usage: gateway serve") {
			t.Errorf("%q: stderr %q, want %q and the usage", tc.args, stderr.String(), tc.want)
		}
	}
}
