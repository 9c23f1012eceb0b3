package server

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
)

func TestDebugReplicasReadsInOrderAndSaysWhatEachFieldIs(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	g := newGateway(t, gatewayYAML([]string{r1.srv.URL}, "latency: {window: 5s, buckets: 4}\n"))
	g.do(t, "GET", "/kv/a", nil, nil)
	resp, err := http.Get(g.admin.URL + "/debug/replicas")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(b)
	// The percentiles read from p50 up, and the decayed average comes after them.
	order := []string{`"name"`, `"samples"`, `"p50_ms"`, `"p90_ms"`, `"p99_ms"`, `"p999_ms"`, `"max_ms"`,
		`"ewma_latency_ms"`, `"hedge_delay_ms"`, `"attempt_timeout_ms"`}
	replica := text[strings.Index(text, `"replicas"`):]
	last := -1
	for _, key := range order {
		i := strings.Index(replica, key)
		if i < 0 || i < last {
			t.Fatalf("/debug/replicas: %s missing or out of order (want %v):\n%s", key, order, replica)
		}
		last = i
	}
	var rep struct {
		WindowSeconds float64           `json:"window_seconds"`
		Legend        map[string]string `json:"legend"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.WindowSeconds != 20 {
		t.Errorf("window_seconds = %v, want 4 × 5s", rep.WindowSeconds)
	}
	if !strings.Contains(rep.Legend["ewma_latency_ms"], "NOT a percentile") {
		t.Errorf("legend does not tell the decayed average from the percentiles: %v", rep.Legend)
	}
}

func TestAdminClosesIdleConnections(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	cfg, err := config.Parse([]byte(gatewayYAML([]string{r1.srv.URL}, "")), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.adminTime.idle = 50 * time.Millisecond
	_, admin := servingGateway(t, s)
	conn, err := net.Dial("tcp", strings.TrimPrefix(admin, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n")
	rd := bufio.NewReader(conn)
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // a bound on a hang
	if _, err := rd.ReadByte(); err != io.EOF {
		t.Errorf("idle admin connection: read %v, want the gateway to close it (EOF)", err)
	}
}
