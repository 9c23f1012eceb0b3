package main

import (
	"strings"
	"testing"
	"time"
)

func TestQuantileIsNearestRank(t *testing.T) {
	v := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		q    float64
		want int64
	}{{0.5, 5}, {0.9, 9}, {0.99, 10}, {0.01, 1}, {1, 10}} {
		if got := quantile(v, tc.q); got != tc.want {
			t.Errorf("quantile(%v) = %d, want %d", tc.q, got, tc.want)
		}
	}
	if quantile([]int64(nil), 0.5) != 0 {
		t.Error("quantile of nothing is not 0")
	}
}

func TestSummarizeCountsAndP99(t *testing.T) {
	var recs []record
	for i := range 1000 {
		recs = append(recs, record{latency: time.Duration(i+1) * time.Millisecond})
	}
	recs[3].verdict, recs[3].reason = verdictWrong, "chunked body ended cleanly"
	recs[4].verdict, recs[4].status, recs[4].reason = verdictStatus, 504, "deadline"
	s := summarize(recs)
	if s.p99 != 990*time.Millisecond || s.max != time.Second {
		t.Errorf("p99 %v max %v, want 990ms 1s", s.p99, s.max)
	}
	if s.ok() != 998 || s.counts[verdictWrong] != 1 || s.counts[verdictStatus] != 1 {
		t.Errorf("counts %v", s.counts)
	}
	if s.successRate() != 0.998 {
		t.Errorf("success %v", s.successRate())
	}
	if !strings.Contains(s.examples[verdictStatus], "504 deadline") || !strings.Contains(s.examples[verdictWrong], "ended cleanly") {
		t.Errorf("examples %v", s.examples)
	}
}

func TestFlatRule(t *testing.T) {
	rule := flatRule{Tolerance: 0.10, Slack: 2, Stride: 2}
	periods := func(medians ...float64) [][]float64 {
		out := make([][]float64, len(medians))
		for i, m := range medians {
			out[i] = []float64{m - 1, m, m + 1}
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		medians []float64
		flat    bool
	}{
		// Off, then on and off in turn: on periods hold more (the fault holds connections).
		{"steady, up and down with the fault", []float64{40, 80, 42, 81, 41, 79, 40, 82, 41, 80}, true},
		{"a step that stays", []float64{40, 80, 42, 100, 60, 100, 60, 100, 60, 100}, false},
		{"a slow leak under the tolerance", []float64{40, 80, 41, 81, 42, 82, 43, 83, 44, 84}, false},
		{"higher at the end than the bound", []float64{40, 80, 40, 80, 40, 70, 40, 95, 40, 92}, false},
		{"lower at the end", []float64{40, 80, 40, 70, 40, 60, 40, 65, 40, 60}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := rule.judgeFlat(periods(tc.medians...))
			if err != nil {
				t.Fatal(err)
			}
			if v.flat != tc.flat {
				t.Fatalf("flat = %v (second %v last %v bound %v rising %v), want %v", v.flat, v.second, v.last, v.bound, v.rising, tc.flat)
			}
		})
	}
	if _, err := rule.judgeFlat(periods(1, 2, 3, 4, 5)); err == nil {
		t.Error("five periods with stride 2 accepted: the rule needs three like periods")
	}
	if _, err := rule.judgeFlat([][]float64{{1}, {2}, {}, {3}, {4}, {5}}); err == nil {
		t.Error("an empty period accepted")
	}
	// An odd count of periods: the last like period is the one before the last.
	v, err := rule.judgeFlat(periods(40, 80, 40, 81, 40, 80, 500))
	if err != nil || v.last != 80 || !v.flat {
		t.Errorf("odd count: last %v flat %v err %v, want the 6th period's 80 and flat", v.last, v.flat, err)
	}
}
