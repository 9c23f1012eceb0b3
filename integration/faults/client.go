package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// record is one client request: when it was due, how long it took from then (so a
// stalled gateway is charged for the requests queued behind it), and what came back.
type record struct {
	due     time.Time
	route   string
	latency time.Duration
	verdict verdict
	status  int
	reason  string // for wrong and cut answers, what was wrong
}

// loadClient sends GETs of /kv/k<i> to a gateway at a fixed rate, open-loop: request i
// is due at start + i/rate whatever the answers do, and checks every answer in full.
type loadClient struct {
	base     string   // http://host:port
	routes   []string // path prefixes taken in turn ("" for /kv/...)
	keys     int
	size     int
	timeout  time.Duration // a request past it is hung
	inflight int           // bound on concurrent requests; the pacer waits for a slot
	http     *http.Client
}

func newLoadClient(base string, keys, size int, timeout time.Duration) *loadClient {
	const inflight = 4096
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &loadClient{base: base, routes: []string{""}, keys: keys, size: size, timeout: timeout, inflight: inflight,
		http: &http.Client{Transport: t}}
}

func (c *loadClient) close() { c.http.CloseIdleConnections() }

// run sends rate requests per second for d and returns every request's record once
// the last one has ended (each is bounded by the client's timeout). at, when set, is
// called once per tick with the offset since start, from the pacer's goroutine, before
// the request due then is sent: the caller switches faults there.
func (c *loadClient) run(ctx context.Context, rate float64, d time.Duration, at func(time.Duration)) []record {
	n := int(rate * d.Seconds())
	out := make([]record, n)
	slots := make(chan struct{}, c.inflight)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if wait := time.Until(due); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			out = out[:i]
			break
		}
		if at != nil {
			at(due.Sub(start))
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			out[i] = c.one(ctx, due, c.routes[i%len(c.routes)], "k"+strconv.Itoa(i%c.keys))
		})
	}
	wg.Wait()
	return out
}

// one sends one request and judges its answer.
func (c *loadClient) one(ctx context.Context, due time.Time, route, key string) record {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	rec := record{due: due, route: route}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+route+"/kv/"+key, nil)
	if err != nil {
		panic(err) // the URL is ours
	}
	resp, err := c.http.Do(req)
	if err != nil {
		rec.latency = time.Since(due)
		rec.verdict, rec.reason = verdictNone, err.Error()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			rec.verdict = verdictHung
		}
		return rec
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, int64(c.size)*2))
	resp.Body.Close()
	rec.latency = time.Since(due)
	rec.status = resp.StatusCode
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		rec.verdict, rec.reason = verdictHung, "no complete answer in "+c.timeout.String()
	case resp.StatusCode != http.StatusOK:
		rec.verdict, rec.reason = verdictStatus, firstLine(body)
	default:
		rec.verdict, rec.reason = judge(key, c.size, resp.Header.Get("X-Version"), resp.ContentLength < 0, body, readErr)
	}
	return rec
}

func firstLine(b []byte) string {
	const limit = 160
	for i, c := range b {
		if c == '\n' || i == limit {
			return string(b[:i])
		}
	}
	return string(b)
}
