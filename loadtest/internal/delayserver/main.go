// Command delayserver is a measurement helper for the load tester: an HTTP server
// on loopback that answers every request after a fixed delay, and can stall
// (answer nothing) for a while partway through, to show coordinated omission.
//
//	go run ./loadtest/internal/delayserver -addr 127.0.0.1:9300 -delay 5ms
//	go run ./loadtest/internal/delayserver -delay 5ms -pause-at 3s -pause 1s
//
// -pause-at is measured from the first request, so the server can be started
// before the load test.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9300", "listen address")
	delay := flag.Duration("delay", 5*time.Millisecond, "answer delay")
	pauseAt := flag.Duration("pause-at", 0, "start a stall this long after the first request (0: never)")
	pause := flag.Duration("pause", time.Second, "length of the stall")
	flag.Parse()

	var once sync.Once
	var first time.Time
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		once.Do(func() { first = now })
		wait := *delay
		if *pauseAt > 0 {
			// Requests that arrive during the stall are all released at its end.
			start := first.Add(*pauseAt)
			if end := start.Add(*pause); !now.Before(start) && now.Before(end) {
				wait = max(wait, end.Sub(now))
			}
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		fmt.Fprintln(w, "ok")
	})
	fmt.Fprintf(os.Stderr, "delayserver on http://%s delay %s\n", *addr, *delay)
	log.Fatal(http.ListenAndServe(*addr, h))
}
