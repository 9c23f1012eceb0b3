package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/sim"
	"go.uber.org/goleak"
)

// The package has no TestMain of its own (other subcommands' tests share it),
// so each sim test checks for leaks itself.
func TestRunSim(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runSimContext(ctx, []string{
			"-base-port", "0", "-replicas", "3", "-latency", "uniform:0s-1ms", "-hang", "r2",
			"-replica", "r3=latency=lognormal:median=1ms,sigma=0.5,stale=1,error=0",
		}, &stdout, &stderr)
	}()

	// Wait (bounded) for the three "NAME URL control URL/_sim/ profile" lines.
	var lines []string
	for range 2000 {
		lines = strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if len(lines) == 3 {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("exited early with %d: %s", code, stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	if len(lines) != 3 {
		t.Fatalf("stdout: %q", stdout.String())
	}
	urls := map[string]string{}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 4 || f[2] != "control" || f[3] != f[1]+"/_sim/" {
			t.Fatalf("line %q", l)
		}
		urls[f[0]] = f[1]
	}
	if !strings.Contains(lines[1], "mode=hang") || !strings.Contains(lines[2], "latency=lognormal:median=1ms,sigma=0.5") {
		t.Fatalf("profiles not applied:\n%s", stdout.String())
	}

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	get := func(url string) (int, []byte) {
		t.Helper()
		resp, err := cl.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, body := get(urls["r1"] + "/kv/a"); code != 200 || !strings.Contains(string(body), `"replica":"r1"`) {
		t.Fatalf("r1: %d %s", code, body)
	}
	var p sim.Profile
	code, body := get(urls["r2"] + "/_sim/profile")
	if err := json.Unmarshal(body, &p); code != 200 || err != nil || p.Mode != sim.ModeHang {
		t.Fatalf("r2 profile: %d %s %v", code, body, err)
	}

	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "served r1=1 r2=0 r3=0") {
		t.Fatalf("stderr: %s", stderr.String())
	}
}

func TestRunSimBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"latency", []string{"-latency", "gauss:1ms"}, "-latency"},
		{"tail", []string{"-tail", "2:1ms"}, "-tail"},
		{"error rate", []string{"-error-rate", "1.5"}, "error_rate"},
		{"replicas", []string{"-replicas", "0"}, "-replicas"},
		{"port range", []string{"-base-port", "65535", "-replicas", "2"}, "-base-port"},
		{"hang unknown", []string{"-hang", "r9"}, `no replica "r9"`},
		{"override unknown", []string{"-replica", "r4=error=0.1"}, `no replica "r4"`},
		{"override syntax", []string{"-replica", "r1"}, "NAME=key=value"},
		{"override key", []string{"-replica", "r1=speed=2"}, "unknown key"},
		{"argument", []string{"extra"}, "unexpected argument"},
		{"flag", []string{"-nope"}, "not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := runSimContext(t.Context(), tc.args, &stdout, &stderr); code != 2 {
				t.Fatalf("exit %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tc.want) || stdout.Len() != 0 {
				t.Fatalf("stderr %q, want it to mention %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestSimFlagsPrecedence(t *testing.T) {
	f := simFlags{
		replicas: 3, basePort: 0, latency: "2ms", tail: "0.1:5ms", errorRate: 0.2, hang: "r1,r2",
		overrides: simReplicaFlags{"r2=mode=normal,stale=0.5", "r3=tail=0"},
	}
	specs, err := f.specs()
	if err != nil {
		t.Fatal(err)
	}
	base := sim.Profile{
		Latency:  sim.Dist{Kind: sim.DistFixed, Value: 2 * time.Millisecond},
		TailProb: 0.1, TailExtra: 5 * time.Millisecond, ErrorRate: 0.2,
	}
	r1, r2, r3 := base, base, base
	r1.Mode = sim.ModeHang
	r2.StaleFraction = 0.5
	r3.TailProb, r3.TailExtra = 0, 0
	for i, want := range []sim.Profile{r1, r2, r3} {
		if specs[i].Profile != want || specs[i].Addr != "127.0.0.1:0" {
			t.Errorf("%s: %+v, want %+v", specs[i].Name, specs[i], want)
		}
	}
	f.basePort = 9101
	specs, _ = f.specs()
	if specs[2].Addr != "127.0.0.1:9103" {
		t.Errorf("addr %s", specs[2].Addr)
	}
}
