// Command gateway is hedgegate's single binary: the gateway itself, its config
// checker, a replica simulator, a load tester and a self-contained demo.
//
// main only parses the subcommand and wires packages together; every behaviour lives
// in a package with its own tests.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage: gateway <command> [flags]

commands:
  serve     -config FILE      run the gateway
  validate  -config FILE      check a config file: prints "config OK" or one line per problem
  sim       [flags]           run simulated replicas on loopback
  loadtest  -url URL -rate R -duration D [flags]
                              open-loop load test (also: loadtest compare A.json B.json ...)
  demo      [flags]           simulated replicas + gateway + load, direct vs each strategy
  tune      -admin URL        what each hedge percentile would cost and buy, from live histograms
  version                     print the module version, VCS revision and Go version

Run "gateway <command> -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(rest, stdout, stderr)
	case "validate":
		return runValidate(rest, stdout, stderr)
	case "sim":
		return runSim(rest, stdout, stderr)
	case "loadtest":
		return runLoadtest(rest, stdout, stderr)
	case "demo":
		return runDemo(rest, stdout, stderr)
	case "tune":
		return runTune(rest, stdout, stderr)
	case "version", "-version", "--version":
		return runVersion(stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "gateway: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}
