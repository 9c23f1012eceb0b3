package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The first SIGTERM drains; with a request that would hold the drain for an hour, a
// second SIGTERM stops the gateway at once.
func TestSecondSignalStopsTheDrainAtOnce(t *testing.T) {
	var arrived atomic.Int64
	rep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" { // warm-up
			return
		}
		arrived.Add(1)
		<-r.Context().Done()
	}))
	defer rep.Close()
	path := filepath.Join(t.TempDir(), "gw.yaml")
	os.WriteFile(path, []byte(fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
shutdown: {drain_delay: 0s, timeout: 1h}
replica_sets:
  kv: {warm_connections: 1, replicas: [{name: r1, url: %q}]}
routes:
  - {name: kv-get, match: "/kv/{key}", replica_set: kv, timeout: 1h, retry: {on: []}}
`, rep.URL)), 0o600)

	signals := make(chan os.Signal, 2)
	addrs := make(chan listening, 1)
	var logs syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- serve(signals, path, &logs, func(at listening) { addrs <- at })
	}()
	var a listening
	select {
	case a = <-addrs:
	case code := <-exited:
		t.Fatalf("serve exited %d: %s", code, logs.String())
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	answered := make(chan error, 1)
	go func() {
		resp, err := client.Get("http://" + a.client + "/kv/held")
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil {
				err = fmt.Errorf("answered %d", resp.StatusCode)
			}
		}
		answered <- err
	}()
	for i := 0; arrived.Load() == 0; i++ {
		if i == 500 {
			t.Fatal("the request never reached the replica")
		}
		time.Sleep(10 * time.Millisecond)
	}

	signals <- syscall.SIGTERM
	for i := 0; !strings.Contains(logs.String(), "listener closed"); i++ {
		if i == 500 {
			t.Fatalf("no drain after SIGTERM:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case code := <-exited:
		t.Fatalf("serve exited %d during the drain, with a request in flight", code)
	default:
	}
	signals <- syscall.SIGTERM
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("serve exited %d, want 0:\n%s", code, logs.String())
		}
	case <-time.After(20 * time.Second): // the drain itself would wait an hour
		t.Fatalf("serve still draining 20s after the second SIGTERM:\n%s", logs.String())
	}
	if err := <-answered; err == nil {
		t.Error("the held request was answered; it should have been cut off")
	}
}
