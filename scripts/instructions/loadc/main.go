// loadc sends N GET requests over C keep-alive connections and exits: a fixed amount of
// work for scripts/instructions.sh to count the proxy's instructions over. It prints
// how many failed and exits 1 if any did.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
)

func main() {
	n := flag.Int("n", 5000, "requests")
	c := flag.Int("c", 8, "connections")
	url := flag.String("url", "", "URL")
	flag.Parse()
	tr := &http.Transport{MaxIdleConnsPerHost: *c, MaxConnsPerHost: *c}
	cl := &http.Client{Transport: tr}
	var left atomic.Int64
	left.Store(int64(*n))
	var bad atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < *c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				resp, err := cl.Get(*url)
				if err != nil {
					bad.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed := bad.Load(); failed > 0 {
		fmt.Fprintf(os.Stderr, "loadc: %d of %d requests failed\n", failed, *n)
		os.Exit(1)
	}
}
