// Command hedgegate-dashboard writes hedgegate's Grafana dashboard JSON (run by
// go generate in deploy/grafana).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/hedgegate/hedgegate/deploy/grafana"
)

func main() {
	out := flag.String("o", "", "write to this file (default: stdout)")
	flag.Parse()
	b, err := grafana.JSON()
	if err == nil {
		if *out == "" {
			_, err = os.Stdout.Write(b)
		} else {
			err = os.WriteFile(*out, b, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hedgegate-dashboard:", err)
		os.Exit(1)
	}
}
