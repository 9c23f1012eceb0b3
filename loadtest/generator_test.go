package loadtest

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

// TestMain proves that no test in the package leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// stallTransport answers after serve, except that requests arriving in
// [stallFrom, stallTo) since its first request are all held until stallTo: a
// server that stops answering for a while. It runs on synctest's fake clock.
type stallTransport struct {
	serve              time.Duration
	stallFrom, stallTo time.Duration

	mu    sync.Mutex
	first time.Time
	sent  []time.Time // when each request reached the server
}

func (s *stallTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	now := time.Now()
	s.mu.Lock()
	if s.first.IsZero() {
		s.first = now
	}
	s.sent = append(s.sent, now)
	since := now.Sub(s.first)
	s.mu.Unlock()
	wait := s.serve
	if since >= s.stallFrom && since < s.stallTo {
		wait = s.stallTo - since
	}
	select {
	case <-time.After(wait):
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
}

// TestStallIsChargedToQueuedRequests is the coordinated-omission test: the
// server stops answering for 1s in the middle of a 3s run at 100 req/s. The
// requests that fell due during the stall must be charged the time from their
// intended send time, including the part they spent waiting for a connection.
func TestStallIsChargedToQueuedRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &stallTransport{serve: time.Millisecond, stallFrom: time.Second, stallTo: 2 * time.Second}
		res, err := Run(t.Context(), Options{
			URL: "http://sim.invalid/", Rate: 100, Duration: 3 * time.Second,
			Connections: 20, Transport: tr, timerOnly: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		s := res.Summary()
		if s.Requests != 300 || s.OK != 300 {
			t.Fatalf("requests %d ok %d, want 300 300", s.Requests, s.OK)
		}
		// The request due at 1.000s waits for the whole stall.
		if s.Latency.Max < 1000 || s.Latency.Max > 1002 {
			t.Errorf("max %vms, want 1000ms (+service time)", s.Latency.Max)
		}
		// 100 requests fell due in the stall, with latencies spread 0..1s:
		// the slowest third of the run is all stall victims.
		if s.Latency.P99 < 950 {
			t.Errorf("p99 %vms, want >= 950ms", s.Latency.P99)
		}
		if p90 := s.Latency.P90; p90 < 600 || p90 > 720 {
			t.Errorf("p90 %vms, want ≈ 700ms", p90)
		}
		// Only 20 connections: the other 80 stall-time requests waited for one,
		// and were sent late — a send-time clock would have shown them fast.
		// The one due at 2.000s also found them all busy, draining the backlog.
		if s.Queued != 81 {
			t.Errorf("queued %d, want 81", s.Queued)
		}
		late := 0
		for i, at := range tr.sent {
			if at.Sub(tr.first) > ConstantOffset(int64(i), 100)+time.Millisecond {
				late++
			}
		}
		if late < 79 {
			t.Errorf("%d requests reached the server late, want the 80 queued ones", late)
		}
		// On the fake clock the generator itself is never late.
		if s.GeneratorLag.Max != 0 {
			t.Errorf("generator lag max %vms, want 0", s.GeneratorLag.Max)
		}
		if s.AchievedRate != 100 {
			t.Errorf("achieved %v req/s, want 100", s.AchievedRate)
		}
		if len(s.Warnings) != 0 {
			t.Errorf("warnings: %q", s.Warnings)
		}
	})
}

// TestSlowServerLowersAchievedRate: too few connections for rate × latency is
// reported as the server's doing, and the waits are in the latency.
func TestSlowServerLowersAchievedRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &stallTransport{serve: 100 * time.Millisecond}
		res, err := Run(t.Context(), Options{
			URL: "http://sim.invalid/", Rate: 100, Duration: time.Second,
			Connections: 5, Transport: tr, timerOnly: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		s := res.Summary()
		// 5 connections × 10 answers/s = 50 req/s, so 100 requests take 2s.
		if s.AchievedRate < 49 || s.AchievedRate > 52 {
			t.Errorf("achieved %v, want ≈ 50", s.AchievedRate)
		}
		if s.Latency.Max < 1000 {
			t.Errorf("max %vms: the backlog (≈1s) is missing", s.Latency.Max)
		}
		if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "connections were busy") {
			t.Errorf("warnings %q, want one about busy connections", s.Warnings)
		}
	})
}

func TestCancelStopsRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 495*time.Millisecond)
		defer cancel()
		res, err := Run(ctx, Options{
			URL: "http://sim.invalid/", Rate: 100, Duration: time.Hour,
			Transport: &stallTransport{serve: 2 * time.Second}, timerOnly: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		s := res.Summary()
		if s.Requests != 50 || s.ErrorKinds[ErrCanceled] != 50 {
			t.Errorf("requests %d, canceled %d: want 50 50", s.Requests, s.ErrorKinds[ErrCanceled])
		}
	})
}

// seen is what a loopback test server received.
type seen struct {
	mu       sync.Mutex
	methods  []string
	paths    []string
	bodies   []string
	headers  []http.Header
	hosts    []string
	encoding []string
}

func recordingServer(t *testing.T, status int) (*httptest.Server, *seen) {
	t.Helper()
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.methods = append(s.methods, r.Method)
		s.paths = append(s.paths, r.URL.RequestURI())
		s.bodies = append(s.bodies, string(b))
		s.headers = append(s.headers, r.Header.Clone())
		s.hosts = append(s.hosts, r.Host)
		s.encoding = append(s.encoding, r.Header.Get("Accept-Encoding"))
		s.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, "answer")
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

func TestRequestsCarryKeyHeadersAndBody(t *testing.T) {
	srv, got := recordingServer(t, http.StatusOK)
	var raw strings.Builder
	res, err := Run(t.Context(), Options{
		URL: srv.URL + "/kv/{key}?k={key}", Method: http.MethodPost, Body: []byte(`{"q":1}`),
		Header: http.Header{"X-Test": {"yes"}, "Host": {"kv.example"}},
		Rate:   200, Duration: 200 * time.Millisecond, Keys: 5, Seed: 9, Raw: &raw,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary()
	if s.Requests != 40 || s.OK != 40 || s.Codes["200"] != 40 {
		t.Fatalf("requests %d ok %d codes %v, want 40", s.Requests, s.OK, s.Codes)
	}
	keys := map[string]bool{}
	for i, p := range got.paths {
		k := strings.TrimPrefix(p, "/kv/")
		k, q, _ := strings.Cut(k, "?k=")
		if k != q || len(k) != 1 || k[0] < '0' || k[0] > '4' {
			t.Fatalf("path %q: want /kv/N?k=N with N in [0,5)", p)
		}
		keys[k] = true
		if got.methods[i] != "POST" || got.bodies[i] != `{"q":1}` || got.headers[i].Get("X-Test") != "yes" ||
			got.hosts[i] != "kv.example" || got.encoding[i] != "" {
			t.Fatalf("request %d: %s body %q X-Test %q host %q accept-encoding %q", i,
				got.methods[i], got.bodies[i], got.headers[i].Get("X-Test"), got.hosts[i], got.encoding[i])
		}
	}
	if len(keys) != 5 {
		t.Errorf("keys used %v, want all 5", keys)
	}
	lines := strings.Split(strings.TrimSpace(raw.String()), "\n")
	if lines[0] != "intended_unix_ns,latency_us,status,error_kind" || len(lines) != 41 {
		t.Fatalf("raw: header %q, %d lines", lines[0], len(lines))
	}
	if f := strings.Split(lines[1], ","); len(f) != 4 || f[2] != "200" || f[3] != "" {
		t.Errorf("raw line %q", lines[1])
	}
}

func TestStatusCounting(t *testing.T) {
	for _, tc := range []struct {
		name           string
		status         int
		ok, errs, code int64
	}{
		{"2xx is ok", 200, 10, 0, 10},
		{"3xx is ok, not followed", 302, 10, 0, 10},
		{"4xx is neither", 404, 0, 0, 10},
		{"5xx is an error", 503, 0, 10, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := recordingServer(t, tc.status)
			res, err := Run(t.Context(), Options{URL: srv.URL, Rate: 100, Duration: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			s := res.Summary()
			if s.OK != tc.ok || s.Errors != tc.errs || s.Codes[strconv.Itoa(tc.status)] != tc.code {
				t.Errorf("ok %d errors %d codes %v", s.OK, s.Errors, s.Codes)
			}
		})
	}
}

func TestErrorKinds(t *testing.T) {
	t.Run("connect_refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		res, err := Run(t.Context(), Options{URL: "http://" + addr + "/", Rate: 50, Duration: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		s := res.Summary()
		if s.ErrorKinds[ErrConnectRefused] != 5 || s.Errors != 5 {
			t.Errorf("kinds %v errors %d, want 5 connect_refused", s.ErrorKinds, s.Errors)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // hang until the client gives up
		}))
		defer srv.Close()
		res, err := Run(t.Context(), Options{URL: srv.URL, Rate: 50, Duration: 100 * time.Millisecond, Timeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if s := res.Summary(); s.ErrorKinds[ErrTimeout] != 5 {
			t.Errorf("kinds %v, want 5 timeout", s.ErrorKinds)
		}
	})
	t.Run("reset", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				c.(*net.TCPConn).SetLinger(0) // close with RST
				c.Close()
			}
		}))
		defer srv.Close()
		res, err := Run(t.Context(), Options{URL: srv.URL, Rate: 50, Duration: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if s := res.Summary(); s.ErrorKinds[ErrReset] != 5 {
			t.Errorf("kinds %v, want 5 reset", s.ErrorKinds)
		}
	})
}

func TestOptionsValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no url", Options{Rate: 1, Duration: time.Second}, "url is required"},
		{"bad scheme", Options{URL: "ftp://x", Rate: 1, Duration: time.Second}, "must start with http"},
		{"no rate", Options{URL: "http://x", Duration: time.Second}, "rate must be > 0"},
		{"no duration", Options{URL: "http://x", Rate: 1}, "duration must be > 0"},
		{"key without keys", Options{URL: "http://x/{key}", Rate: 1, Duration: time.Second}, "set keys > 0"},
		{"bad dist", Options{URL: "http://x", Rate: 1, Duration: time.Second, KeyDist: "pareto"}, "key distribution"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(t.Context(), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func BenchmarkGenerator(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	// A rate far above what loopback sustains: every slot is due at once, so
	// this measures the generator's per-request cost, client and server both.
	const rate = 1e6
	b.ReportAllocs()
	b.ResetTimer()
	res, err := Run(b.Context(), Options{
		URL: srv.URL + "/kv/{key}", Keys: 1000, Rate: rate,
		Duration:    time.Duration(float64(b.N) / rate * float64(time.Second)),
		Connections: 16,
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	s := res.Summary()
	if s.Requests != int64(b.N) || s.OK != s.Requests {
		b.Fatalf("requests %d ok %d, want %d", s.Requests, s.OK, b.N)
	}
	b.ReportMetric(s.AchievedRate, "req/s")
}
