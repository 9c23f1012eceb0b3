// Command revproxy is scripts/bench-peers.sh's baseline: the standard library's
// net/http/httputil.ReverseProxy, round-robin over the given backends, with nothing
// else on the path (no hedging, no retries, no metrics). Its transport keeps enough
// idle connections that a closed-loop run does not redial, so the baseline is Go's
// proxy well configured, not Go's defaults (two idle connections per host).
//
//	go run ./scripts/bench-peers/revproxy -addr 127.0.0.1:26182 \
//	    -backends http://127.0.0.1:26101,http://127.0.0.1:26102,http://127.0.0.1:26103
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:26182", "listen address")
	backends := flag.String("backends", "", "comma-separated backend base URLs")
	flag.Parse()
	var targets []*url.URL
	for _, s := range strings.Split(*backends, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Host == "" {
			fmt.Fprintf(os.Stderr, "revproxy: bad backend %q\n", s)
			os.Exit(2)
		}
		targets = append(targets, u)
	}
	var next atomic.Uint64
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(targets[next.Add(1)%uint64(len(targets))])
		},
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	srv := &http.Server{Addr: *addr, Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(os.Stderr, "revproxy on http://%s -> %s\n", *addr, *backends)
	log.Fatal(srv.ListenAndServe())
}
