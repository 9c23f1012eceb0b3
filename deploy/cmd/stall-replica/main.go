// Command stall-replica is a replica that cuts every answer short: 200, the first
// half of a chunked body, then nothing until the client gives up. deploy/prometheus/
// live.sh puts it behind a route with a short timeout, so that the gateway's
// truncated-answers counter (and its panel and alert) have something true to count.
// gateway sim has no such mode; this is test equipment, not part of the product.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	stall := flag.Duration("stall", 10*time.Second, "how long to hold the half-sent answer at most")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stall-replica http://%s\n", ln.Addr())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {}) // the gateway's warm-up
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		// More than the gateway's 64 KiB read-ahead: a shorter answer that stalls never
		// wins (it times out as a 504) and so is never a truncated one.
		fmt.Fprintf(w, "the first half of %s, %s and then", r.URL.Path, strings.Repeat(".", 96<<10))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(*stall):
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
