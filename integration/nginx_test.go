//go:build integration

package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/loadtest"
)

// The example config names these ports (scripts/nginx-replicas.sh's defaults).
var exampleNginxPorts = [3]int{18081, 18082, 18083}

// startNginx runs three nginx instances with scripts/nginx-replicas.sh on free ports
// and returns their directory and ports; they are stopped at cleanup.
func startNginx(t *testing.T) (dir string, ports []int) {
	t.Helper()
	requireCommands(t, "bash", "nginx")
	ports = freePorts(t, 3)
	dir = filepath.Join(t.TempDir(), "nginx")
	env := []string{"NGINX_PORTS=" + joinPorts(ports)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", repoPath(t, "scripts/nginx-replicas.sh"), "stop", dir)
		cmd.Env = append(cmd.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("nginx-replicas.sh stop: %v\n%s", err, out)
		}
	})
	runScript(t, 30*time.Second, env, "scripts/nginx-replicas.sh", "start", dir)
	return dir, ports
}

// TestNginxOneInstanceKilled: a static site on three nginx instances behind the hedge
// route loses one instance (master and worker killed at once) in the middle of a
// load, and clients do not notice.
func TestNginxOneInstanceKilled(t *testing.T) {
	dir, ports := startNginx(t)
	rewrite := map[string]string{}
	for i, p := range exampleNginxPorts {
		rewrite[fmt.Sprintf("127.0.0.1:%d", p)] = fmt.Sprintf("127.0.0.1:%d", ports[i])
	}
	gw := startGateway(t, "examples/static.yaml", rewrite)

	// The same bytes through the gateway as on disk.
	resp, err := client.Get(gw.url + "/static/k/7")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want, err := os.ReadFile(filepath.Join(dir, "www", "k", "7"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || string(body) != string(want) {
		t.Fatalf("GET /static/k/7: %d %q, want 200 %q", resp.StatusCode, body, want)
	}

	opts := loadtest.Options{
		URL: gw.url + "/static/k/{key}", Keys: 100, Rate: 200, Duration: 5 * time.Second,
		Seed: 1, MetricsURL: gw.metrics,
	}
	done := make(chan loadtest.Summary, 1)
	go func() { done <- load(t, "static hedge, nginx2 killed at 1.5s", opts) }()
	time.Sleep(1500 * time.Millisecond)
	// nginx's master calls setsid: its process group is the master and its workers.
	// Killing only the master would leave the workers serving.
	master := readPID(t, filepath.Join(dir, "nginx2", "nginx.pid"))
	if !strings.Contains(readCmdline(master), filepath.Join(dir, "nginx2")) {
		t.Fatalf("pid %d is not nginx2's master: %q", master, readCmdline(master))
	}
	signal(t, -master, syscall.SIGKILL)
	sum := <-done

	if r := ratio(sum.OK, sum.Requests); r < 0.999 {
		t.Errorf("success %.4f (%d of %d) with one nginx killed mid-load, want ≥ 0.999", r, sum.OK, sum.Requests)
	}
	if sum.Requests < 900 {
		t.Errorf("only %d requests sent", sum.Requests)
	}
	if _, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[1])); err == nil {
		t.Errorf("nginx2 still answers after SIGKILL to its process group")
	}
}

func readCmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.ReplaceAll(string(b), "\x00", " ")
}
