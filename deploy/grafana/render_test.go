package grafana

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestRenderDrawsEverySeriesOnItsPanel(t *testing.T) {
	b, err := os.ReadFile("hedgegate.json")
	if err != nil {
		t.Fatal(err)
	}
	data := PanelData{
		"Requests by route": {{
			{Metric: map[string]string{"route": "kv-get"}, Values: [][2]any{{1000.0, "10"}, {1001.0, "12"}, {1005.0, "11"}, {1006.0, "9"}}},
			{Metric: map[string]string{"route": "kv-quorum"}, Values: [][2]any{{1000.0, "3"}, {1001.0, "NaN"}}},
		}},
		"Last reload refused": {{{Metric: map[string]string{"instance": "gw"}, Values: [][2]any{{1000.0, "1"}}}}},
	}
	var out bytes.Buffer
	if err := Render(&out, b, data, "test"); err != nil {
		t.Fatal(err)
	}
	page := out.String()
	if n := strings.Count(page, `class="series"`); n != 2 {
		t.Errorf("%d series drawn, want 2", n)
	}
	// kv-get has a gap (1001 to 1005 at a 1s step): two segments; kv-quorum one.
	if n := strings.Count(page, `<polyline `); n != 3 {
		t.Errorf("%d line segments, want 3", n)
	}
	for _, want := range []string{"kv-get", "kv-quorum", "1 (true)", "No data", "Hedge win rate"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
