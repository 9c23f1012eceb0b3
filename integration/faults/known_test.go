package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseKnown(t *testing.T) {
	k, err := parseKnown(strings.NewReader(`
# cell  goals  # defect
1/limit_data/hedge  success,cut,wrong  # body failures do not reach the picker

1/bandwidth/quorum p99
`), "known.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !k["1/limit_data/hedge"]["cut"] || !k["1/bandwidth/quorum"]["p99"] || len(k) != 2 {
		t.Fatalf("parsed %v", k)
	}
	_, err = parseKnown(strings.NewReader("1/limit_data/hedge success,cutt\nlimit_data/hedge p99\n1/x/y p99\n1/x/y p99\n"), "known.txt")
	for _, want := range []string{`known.txt:1: goal "cutt"`, `known.txt:2: cell "limit_data/hedge"`, "known.txt:4: cell 1/x/y listed twice"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to say %q", err, want)
		}
	}
}

// A cell's misses are known only goal by goal: another goal missed still fails.
func TestKnownCoversOnlyItsGoals(t *testing.T) {
	recs := make([]record, 1000)
	for i := range recs {
		recs[i].latency = time.Millisecond
	}
	for i := range 10 {
		recs[i].verdict = verdictCut
	}
	c := &cell{faulty: 1, fault: "limit_data", strategy: "hedge", planned: 1, backend: 1.1, sum: summarize(recs)}
	c.known = map[string]bool{goalCut: true, goalSuccess: true}
	c.check(issueGoals)
	if len(c.misses) != 2 || len(c.unexpected()) != 0 || !strings.HasPrefix(c.status(), "known:") {
		t.Fatalf("misses %v unexpected %v status %q", c.misses, c.unexpected(), c.status())
	}
	c.backend = 1.3
	c.check(issueGoals)
	if u := c.unexpected(); len(u) != 1 || u[0].goal != goalWork || !strings.HasPrefix(c.status(), "MISSED:") {
		t.Fatalf("unexpected %v status %q, want the work goal missed", u, c.status())
	}
	if st := (knownFailures{c.name(): {goalCut: true, goalP99: true}}).stale([]*cell{{faulty: 1, fault: "limit_data", strategy: "hedge",
		known: map[string]bool{goalCut: true, goalP99: true}, misses: []miss{{goal: goalCut}}}}); len(st) != 1 || st[0] != "1/limit_data/hedge p99" {
		t.Fatalf("stale %v, want the p99 entry", st)
	}
}

// Two faulty replicas: only wrong answers, hangs and the gateway's own health count.
func TestTwoFaultyCellsHaveOnlyTheSafetyGoals(t *testing.T) {
	recs := make([]record, 100)
	for i := range recs {
		recs[i].verdict, recs[i].latency = verdictStatus, time.Second
	}
	c := &cell{faulty: 2, fault: "down", strategy: "quorum", planned: 3, backend: 9, sum: summarize(recs)}
	c.check(issueGoals)
	if len(c.misses) != 0 {
		t.Fatalf("misses %v, want none", c.misses)
	}
	recs[0].verdict = verdictWrong
	c.sum = summarize(recs)
	c.check(issueGoals)
	if len(c.misses) != 1 || c.misses[0].goal != goalWrong {
		t.Fatalf("misses %v, want the wrong answer", c.misses)
	}
}

func TestWorkLimitSpreadsTheBudgetFloorOnlyOverShortCells(t *testing.T) {
	if got := workLimit(1.2, 10*time.Second, 2000); got != 1.2 {
		t.Errorf("10 s cell: %v, want the goal itself", got)
	}
	// 3 s of a 10 s window: 70 of the floor's 100 attempts over 600 requests.
	if got, want := workLimit(1.2, 3*time.Second, 600), 1.2+70.0/600; got < want-1e-9 || got > want+1e-9 {
		t.Errorf("3 s cell: %v, want %v", got, want)
	}
}
