package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/loadtest"
	"github.com/hedgegate/hedgegate/server"
)

// sendLog records when each request was really sent (the generator may send a due
// request late when the machine is busy) and how it ended.
type sendLog struct {
	rt     http.RoundTripper
	closes atomic.Int64 // answers that told the client to close its connection
	mu     sync.Mutex
	sends  []send
}

type send struct {
	at, end time.Time
	status  int // 0: no answer
	detail  string
}

func (l *sendLog) RoundTrip(r *http.Request) (*http.Response, error) {
	at := time.Now()
	resp, err := l.rt.RoundTrip(r)
	s := send{at: at, end: time.Now()}
	if err != nil {
		s.detail = err.Error()
	} else {
		s.status = resp.StatusCode
		if resp.Close {
			l.closes.Add(1)
		}
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(b))
			s.detail = string(b)
		}
	}
	l.mu.Lock()
	l.sends = append(l.sends, s)
	l.mu.Unlock()
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
  kv: {warm_connections: 1, connect_timeout: 5s, replicas: [{name: r1, url: %q}, {name: r2, url: %q}, {name: r3, url: %q}]}
routes:
  # The drain is under test, not hedging: on a starved machine, hedges and retries
  # only add dials, and a short deadline fails requests the drain did not touch.
  - {name: kv-get, match: "/kv/{key}", replica_set: kv, timeout: 10s, hedge: {max_attempts: 1}}
`, drainDelay, urls[0], urls[1], urls[2])), "drain.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var gwLog bytes.Buffer
	gw, err := server.New(cfg, server.Options{Logger: slog.New(slog.NewTextHandler(&gwLog, nil))})
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

	// The load runs 0.5s before the signal and until 300ms before the drain delay
	// ends. Requests are judged by when they were really sent: every one sent before
	// the signal or during the delay (less a margin for the accept queue, whose
	// connections the closing listener resets) must be answered 200.
	// The margin is wide: at a load average of 15 on 2 cores, a request started 500ms
	// before the close was seen to reach the listener only after it.
	const before, margin = 500 * time.Millisecond, time.Second
	tr := &sendLog{rt: loadtest.NewTransport(64, 10*time.Second)}
	defer tr.rt.(*http.Transport).CloseIdleConnections()
	ran := make(chan error, 1)
	go func() {
		_, err := loadtest.Run(context.Background(), loadtest.Options{
			URL: base + "/kv/{key}", Keys: 100, Rate: 100, Duration: before + drainDelay - 300*time.Millisecond,
			Transport: tr,
		})
		ran <- err
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
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", gwLog.String())
		}
	}()
	cutoff := signalled.Add(drainDelay - margin)
	var during, late, lateFailed int
	for _, s := range tr.sends {
		if s.at.After(cutoff) {
			late++
			if s.status != http.StatusOK {
				lateFailed++
			}
			continue
		}
		if s.at.After(signalled) {
			during++
		}
		if s.status != http.StatusOK {
			t.Errorf("request sent %v after SIGTERM, ended %v after: status %d %s",
				s.at.Sub(signalled), s.end.Sub(signalled), s.status, s.detail)
		}
	}
	t.Logf("%d requests sent during the drain delay, all answered 200 (%d more sent in its last %v, not judged: %d failed); %d answers said Connection: close",
		during, late, margin, lateFailed, tr.closes.Load())
	if during < 40 {
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
