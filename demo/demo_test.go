package demo

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hedgegate/hedgegate/loadtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A short demo: every run answered, the gateway's own counts on the gateway's
// runs only, and the strategies' constant work where it is constant.
func TestRun(t *testing.T) {
	var log bytes.Buffer
	rows, err := Run(t.Context(), Options{Rate: 100, Duration: 300 * time.Millisecond, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"direct r1", "direct r3", "hedge", "parallel", "quorum"}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, r := range rows {
		s := r.Summary
		if r.Name != want[i] || s.Requests != 30 || s.OK != s.Requests {
			t.Errorf("row %d: %s, %d requests, %d ok; want %s, 30 all ok", i, r.Name, s.Requests, s.OK, want[i])
		}
		if direct := strings.HasPrefix(r.Name, "direct"); direct != (s.Gateway == nil) {
			t.Errorf("%s: gateway stats %+v: want them exactly on the runs through the gateway", r.Name, s.Gateway)
		}
	}
	if g := rows[2].Summary.Gateway; g == nil || g.BackendPerRequest < 1 || g.BackendPerRequest > 3 {
		t.Errorf("hedge backend/req %+v, want 1..max_attempts", g)
	}
	for i, perRequest := range map[int]float64{3: 2, 4: 3} { // parallel fanout 2; quorum asks all 3
		if g := rows[i].Summary.Gateway; g == nil || g.BackendPerRequest != perRequest {
			t.Errorf("%s backend/req %+v, want %v", rows[i].Name, g, perRequest)
		}
	}
	if n := strings.Count(log.String(), "demo: "); n != 5 {
		t.Errorf("%d progress lines, want 5:\n%s", n, log.String())
	}
}

// The table shows the gateway's count as backend/req, "-" without a gateway,
// and every generator warning once, named by its run.
func TestWriteTable(t *testing.T) {
	rows := []Row{
		{Name: "direct r1", Summary: loadtest.Summary{Requests: 10, OK: 10, Warnings: []string{"generator fell behind"}}},
		{Name: "hedge", Summary: loadtest.Summary{Requests: 10, OK: 9, Gateway: &loadtest.GatewayStats{BackendPerRequest: 1.042}}},
	}
	var b strings.Builder
	if err := WriteTable(&b, rows); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(out, "\n")
	if f := strings.Fields(lines[1]); len(f) != 8 || f[6] != "-" || f[7] != "100.00%" {
		t.Errorf("direct row %q: want backend/req - and success 100.00%%", lines[1])
	}
	if f := strings.Fields(lines[2]); len(f) != 7 || f[5] != "1.04" || f[6] != "90.00%" {
		t.Errorf("hedge row %q: want backend/req 1.04 and success 90.00%%", lines[2])
	}
	if n := strings.Count(out, "warning: direct r1: generator fell behind\n"); n != 1 {
		t.Errorf("warning printed %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "backend/req: ") {
		t.Errorf("no legend for backend/req:\n%s", out)
	}
}
