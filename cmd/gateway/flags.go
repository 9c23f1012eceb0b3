package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// flagSet is one subcommand's flags, with the convention every subcommand
// follows (as `go help` style tools do): -h, -help and --help print the usage to
// stdout and exit 0; a flag error prints the error and the usage to stderr and
// exits 2.
type flagSet struct {
	*flag.FlagSet
	usage          string // synopsis and description, printed before the flags
	stdout, stderr io.Writer
}

func newFlagSet(name, usage string, stdout, stderr io.Writer) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Errors from Parse go to stderr; the usage after them is printed by parse,
	// to the stream the outcome calls for.
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, usage: usage, stdout: stdout, stderr: stderr}
}

// parse parses args. When ok is false the subcommand is over and returns code:
// 0 after a request for help, 2 after a flag error.
func (f *flagSet) parse(args []string) (code int, ok bool) {
	err := f.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		f.printUsage(f.stdout)
		return 0, false
	default:
		f.printUsage(f.stderr)
		return 2, false
	}
}

// usageError prints msg (when not empty) and the usage to stderr, and returns
// the exit code of a flag error.
func (f *flagSet) usageError(format string, args ...any) int {
	if format != "" {
		fmt.Fprintf(f.stderr, f.Name()+": "+format+"\n", args...)
	}
	f.printUsage(f.stderr)
	return 2
}

func (f *flagSet) printUsage(w io.Writer) {
	fmt.Fprint(w, f.usage)
	fmt.Fprintln(w, "\nflags:")
	f.SetOutput(w)
	f.PrintDefaults()
	f.SetOutput(f.stderr)
}
