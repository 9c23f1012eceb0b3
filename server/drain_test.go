package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/loadtest"
	"github.com/hedgegate/hedgegate/server"
)

// closeCounter counts answers that told the client to close its connection.
type closeCounter struct {
	rt     http.RoundTripper
	closes atomic.Int64
}

func (c *closeCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if err == nil && resp.Close {
		c.closes.Add(1)
	}
	return resp, err
}

// A rolling deploy's drain: with a steady load running, SIGTERM (here, the end of
// Serve's context) turns /readyz 503 at once, and every request sent during the
// drain delay is answered, each telling its client to reconnect elsewhere.
func TestDrainLosesNoRequestSentDuringTheDelay(t *testing.T) {
	const drainDelay = 2 * time.Second
	var urls []string
	for range 3 {
		rep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok")
		}))
		defer rep.Close()
		urls = append(urls, rep.URL)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`shutdown: {drain_delay: %s, timeout: 10s}
replica_sets:
  kv: {warm_connections: 1, replicas: [{name: r1, url: %q}, {name: r2, url: %q}, {name: r3, url: %q}]}
routes:
  - {name: kv-get, match: "/kv/{key}", replica_set: kv}
`, drainDelay, urls[0], urls[1], urls[2])), "drain.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gw, err := server.New(cfg, server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	adminLn, _ := net.Listen("tcp", "127.0.0.1:0")
	base, admin := "http://"+ln.Addr().String(), "http://"+adminLn.Addr().String()
	ctx, sigterm := context.WithCancel(context.Background())
	defer sigterm()
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, ln, adminLn) }()
	readyz := func() int {
		resp, err := http.Get(admin + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 0; readyz() != 200; i++ {
		if i == 500 {
			t.Fatal("gateway not ready after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The load runs 0.5s before the signal and stops 300ms before the drain delay
	// ends, so every request it sends is due before the listener closes.
	const before = 500 * time.Millisecond
	tr := &closeCounter{rt: loadtest.NewTransport(64, 5*time.Second)}
	defer tr.rt.(*http.Transport).CloseIdleConnections()
	var raw bytes.Buffer
	type run struct {
		res *loadtest.Result
		err error
	}
	ran := make(chan run, 1)
	go func() {
		res, err := loadtest.Run(context.Background(), loadtest.Options{
			URL: base + "/kv/{key}", Keys: 100, Rate: 200, Duration: before + drainDelay - 300*time.Millisecond,
			Transport: tr, Raw: &raw,
		})
		ran <- run{res, err}
	}()
	time.Sleep(before)
	signalled := time.Now()
	sigterm()
	for i := 0; readyz() != http.StatusServiceUnavailable; i++ {
		if i == 100 {
			t.Fatal("/readyz still not 503 one second after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := <-ran
	if r.err != nil {
		t.Fatal(r.err)
	}
	sum := r.res.Summary()
	if sum.Errors != 0 || sum.Codes["200"] != sum.Requests {
		t.Errorf("%d requests: %d errors, codes %v; want every one answered 200", sum.Requests, sum.Errors, sum.Codes)
	}
	// Read the raw lines to prove the drain delay was covered.
	var during int
	sc := bufio.NewScanner(&raw)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		ns, _ := strconv.ParseInt(f[0], 10, 64)
		if time.Unix(0, ns).After(signalled) {
			during++
			if f[2] != "200" {
				t.Errorf("request due %v after SIGTERM: %s", time.Unix(0, ns).Sub(signalled), sc.Text())
			}
		}
	}
	if during < 100 {
		t.Errorf("only %d requests were sent during the drain delay; the test did not exercise it", during)
	}
	if tr.closes.Load() == 0 {
		t.Error("no answer during the drain said Connection: close")
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after the drain")
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the listener still accepts after the drain")
	}
}
