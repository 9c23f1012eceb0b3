package main

import (
	"fmt"
	"io"
)

func runTune(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "gateway tune: not built yet")
	return 1
}
