// Command hedgegate-render draws the Grafana dashboard's panels from the query results
// deploy/prometheus/live.sh recorded (RENDER=DIR), as an HTML page for a headless
// browser to screenshot (deploy/grafana/render.sh). It prints the page's height in
// pixels, for the screenshot's window.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/hedgegate/hedgegate/deploy/grafana"
)

func main() {
	dash := flag.String("dashboard", "grafana/hedgegate.json", "the dashboard JSON")
	data := flag.String("data", "", "panels.json written by the live test's -dump")
	out := flag.String("o", "dashboard.html", "the HTML page to write")
	caption := flag.String("caption", "", "a line under the title")
	flag.Parse()
	if err := run(*dash, *data, *out, *caption); err != nil {
		fmt.Fprintln(os.Stderr, "hedgegate-render:", err)
		os.Exit(1)
	}
}

func run(dash, data, out, caption string) error {
	d, err := os.ReadFile(dash)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(data)
	if err != nil {
		return err
	}
	var pd grafana.PanelData
	if err := json.Unmarshal(raw, &pd); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := grafana.Render(f, d, pd, caption); err != nil {
		f.Close()
		return err
	}
	h, err := grafana.PageHeight(d)
	if err != nil {
		return err
	}
	fmt.Println(h) // the screenshot's window height
	return f.Close()
}
