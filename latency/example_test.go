package latency_test

import (
	"fmt"
	"time"

	"github.com/hedgegate/hedgegate/latency"
)

func Example() {
	// Six 10s buckets: the last minute of latencies. A fixed clock keeps the example
	// deterministic; nil means time.Now.
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	w := latency.NewWindow(10*time.Second, 6, func() time.Time { return start })
	for i := 1; i <= 100; i++ {
		w.Record(time.Duration(i) * time.Millisecond)
	}
	fmt.Println("samples:", w.Count())
	fmt.Println("p50:", w.Quantile(50).Round(time.Millisecond))
	fmt.Println("p99:", w.Quantile(99).Round(time.Millisecond))
	s := w.Snapshot()
	fmt.Println("max:", s.Max().Round(time.Millisecond))
	// Output:
	// samples: 100
	// p50: 50ms
	// p99: 99ms
	// max: 100ms
}
