//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/loadtest"
)

// The example config names these client ports (scripts/etcd-cluster.sh's defaults);
// the tests rewrite them to free ones.
var exampleEtcdPorts = [3]int{23790, 23791, 23792}

const (
	quorumRoute = "etcd-quorum"
	hedgeRoute  = "etcd-hedge"
	quorumPath  = "/quorum/v3/kv/range"
	hedgePath   = "/hedge/v3/kv/range"
)

// etcdCluster is three etcd members started by scripts/etcd-cluster.sh, each
// member's peer URL routed through an in-process proxy (peerLinks) so a test can cut
// one member off from the others while it keeps serving clients.
type etcdCluster struct {
	dir    string
	client [3]string // host:port of each member's client listener
	pids   [3]int
	peers  *peerLinks
}

func startEtcd(t *testing.T) *etcdCluster {
	t.Helper()
	requireCommands(t, "bash", "etcd", "etcdctl")
	ports := freePorts(t, 9)
	clientPorts, peerPorts, proxyPorts := ports[0:3], ports[3:6], ports[6:9]

	c := &etcdCluster{dir: filepath.Join(t.TempDir(), "etcd"), peers: startPeerLinks(t, proxyPorts, peerPorts)}
	for i := range 3 {
		c.client[i] = fmt.Sprintf("127.0.0.1:%d", clientPorts[i])
	}
	env := []string{
		"ETCD_CLIENT_PORTS=" + joinPorts(clientPorts),
		"ETCD_PEER_PORTS=" + joinPorts(peerPorts),
		"ETCD_PEER_ADVERTISE_PORTS=" + joinPorts(proxyPorts),
	}
	// Registered before start, so a start that fails half-way is still cleaned up;
	// runs before the proxies stop (cleanups run last-registered first).
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", repoPath(t, "scripts/etcd-cluster.sh"), "stop", c.dir)
		cmd.Env = append(cmd.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("etcd-cluster.sh stop: %v\n%s", err, out)
		}
	})
	start := time.Now()
	runScript(t, 60*time.Second, env, "scripts/etcd-cluster.sh", "start", c.dir)
	for i := range 3 {
		c.pids[i] = readPID(t, filepath.Join(c.dir, fmt.Sprintf("etcd%d.pid", i+1)))
	}
	t.Logf("etcd cluster healthy in %v: clients %v, pids %v", time.Since(start).Round(time.Millisecond), c.client, c.pids)
	return c
}

// rewrite maps the example's ports to this cluster's.
func (c *etcdCluster) rewrite() map[string]string {
	m := map[string]string{}
	for i, p := range exampleEtcdPorts {
		m[fmt.Sprintf("127.0.0.1:%d", p)] = c.client[i]
	}
	return m
}

func (c *etcdCluster) endpoints(members ...int) string {
	var eps []string
	for _, i := range members {
		eps = append(eps, "http://"+c.client[i])
	}
	return strings.Join(eps, ",")
}

// ctl runs etcdctl against the given members, bounded in time.
func (c *etcdCluster) ctl(t *testing.T, members []int, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	full := append([]string{"--endpoints=" + c.endpoints(members...), "--dial-timeout=2s", "--command-timeout=5s"}, args...)
	cmd := exec.CommandContext(ctx, "etcdctl", full...)
	cmd.Env = append(cmd.Environ(), "ETCDCTL_API=3")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("etcdctl %s: %w: %s", strings.Join(full, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func (c *etcdCluster) mustCtl(t *testing.T, members []int, args ...string) string {
	t.Helper()
	out, err := c.ctl(t, members, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// put writes key=value through the given members (etcdctl: a linearizable write,
// acknowledged once a majority has it), retrying briefly if an election is running.
func (c *etcdCluster) put(t *testing.T, members []int, key, value string) {
	t.Helper()
	var err error
	for range 10 {
		if _, err = c.ctl(t, members, "put", key, value); err == nil {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatal(err)
}

// get reads key from the given members: serializable (that member's own state) or
// linearizable (confirmed with the leader). "" when the key does not exist.
func (c *etcdCluster) get(t *testing.T, members []int, key string, serializable bool) string {
	t.Helper()
	consistency := "--consistency=l"
	if serializable {
		consistency = "--consistency=s"
	}
	return c.mustCtl(t, members, "get", key, "--print-value-only", consistency)
}

// waitValue waits until every listed member serves key=value from its own state.
func (c *etcdCluster) waitValue(t *testing.T, members []int, key, value string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for _, m := range members {
		for {
			got := c.get(t, []int{m}, key, true)
			if got == value {
				break
			}
			if time.Since(start) > within {
				t.Fatalf("etcd%d serves %s=%q, want %q after %v", m+1, key, got, value, within)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return time.Since(start)
}

// leader is the index of the member that leads now.
func (c *etcdCluster) leader(t *testing.T) int {
	t.Helper()
	out := c.mustCtl(t, []int{0, 1, 2}, "endpoint", "status", "-w", "json")
	var st []struct {
		Endpoint string
		Status   struct {
			Header struct {
				MemberID uint64 `json:"member_id"`
			}
			Leader uint64
		}
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("endpoint status: %v\n%s", err, out)
	}
	for _, s := range st {
		if s.Status.Header.MemberID == s.Status.Leader && s.Status.Leader != 0 {
			for i, cl := range c.client {
				if s.Endpoint == "http://"+cl {
					return i
				}
			}
		}
	}
	t.Fatalf("no leader in %s", out)
	return -1
}

// stop freezes a member with SIGSTOP: its sockets stay open, nothing answers. The
// member is resumed at cleanup if the test has not done it.
func (c *etcdCluster) stop(t *testing.T, m int) {
	t.Helper()
	signal(t, c.pids[m], syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(c.pids[m], syscall.SIGCONT) })
}

func (c *etcdCluster) resume(t *testing.T, m int) { signal(t, c.pids[m], syscall.SIGCONT) }

// rangeBody is the JSON body of a serializable range request for one key.
func rangeBody(key string) []byte {
	b, _ := json.Marshal(map[string]any{"key": base64.StdEncoding.EncodeToString([]byte(key)), "serializable": true})
	return b
}

// rangeAnswer is the part of etcd's /v3/kv/range answer the tests read; int64 fields
// are JSON strings in etcd's gateway output.
type rangeAnswer struct {
	Header struct {
		MemberID string `json:"member_id"`
	} `json:"header"`
	Kvs []struct {
		Key         string `json:"key"`
		Value       string `json:"value"`
		ModRevision string `json:"mod_revision"`
	} `json:"kvs"`
}

type readResult struct {
	status  int
	value   string // decoded from base64; "" when no kvs
	modRev  string
	replica string // X-Hedgegate-Replica
	body    []byte
	err     error
}

var client = &http.Client{Timeout: 5 * time.Second}

// read POSTs a serializable range for key to url and decodes the answer.
func read(url, key string) readResult {
	resp, err := client.Post(url, "application/json", bytes.NewReader(rangeBody(key)))
	if err != nil {
		return readResult{err: err}
	}
	return decodeRange(resp)
}

// decodeRange reads and closes a range answer.
func decodeRange(resp *http.Response) readResult {
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	r := readResult{status: resp.StatusCode, body: body, err: err, replica: resp.Header.Get("X-Hedgegate-Replica")}
	if err != nil || resp.StatusCode != http.StatusOK {
		return r
	}
	var a rangeAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		r.err = fmt.Errorf("decode %s: %w", body, err)
		return r
	}
	if len(a.Kvs) > 0 {
		v, err := base64.StdEncoding.DecodeString(a.Kvs[0].Value)
		if err != nil {
			r.err = fmt.Errorf("value %q: %w", a.Kvs[0].Value, err)
		}
		r.value, r.modRev = string(v), a.Kvs[0].ModRevision
	}
	return r
}

// counts tallies reads by outcome: the value read, or the status/error.
type counts map[string]int

func (c counts) add(r readResult) {
	switch {
	case r.err != nil:
		c["error"]++
	case r.status != http.StatusOK:
		c[fmt.Sprint(r.status)]++
	default:
		c[r.value]++
	}
}

// TestEtcdWriteThenRead: values written with etcdctl come back through both routes.
func TestEtcdWriteThenRead(t *testing.T) {
	c := startEtcd(t)
	gw := startGateway(t, "examples/etcd.yaml", c.rewrite())

	keys := map[string]string{"greeting": "hello, etcd", "path/like/key": "grüße ✓", "json": `{"a": [1, 2]}`}
	for k, v := range keys {
		c.put(t, []int{0}, k, v)
	}
	// etcdctl's put returns once a majority has the entry and the leader applied it;
	// a follower applies it a moment later. Serializable reads see that moment, so
	// wait for every member before reading through the gateway.
	for k, v := range keys {
		c.waitValue(t, []int{0, 1, 2}, k, v, 5*time.Second)
	}
	for _, path := range []string{quorumPath, hedgePath} {
		for k, want := range keys {
			wantRev := ""
			for i := range 5 {
				r := read(gw.url+path, k)
				if r.err != nil || r.status != http.StatusOK {
					t.Fatalf("%s %s: status %d err %v body %s", path, k, r.status, r.err, r.body)
				}
				if r.value != want {
					t.Errorf("%s %s: read %q, want %q", path, k, r.value, want)
				}
				if i == 0 {
					wantRev = r.modRev
				} else if r.modRev != wantRev {
					t.Errorf("%s %s: mod_revision %s, first read said %s", path, k, r.modRev, wantRev)
				}
			}
		}
	}

	// A key that does not exist: etcd answers 200 with no "kvs" at all. With
	// version.missing "0" the members agreeing that it is absent form a quorum.
	for _, path := range []string{quorumPath, hedgePath} {
		r := read(gw.url+path, "no-such-key")
		t.Logf("missing key through %s: status %d body %s", path, r.status, bytes.TrimSpace(r.body))
		if r.status != http.StatusOK {
			t.Errorf("absent key through %s: status %d, want 200 (an agreed absence)", path, r.status)
		}
	}
}

// rangeLoad is the generator's options for a read of key through path.
func rangeLoad(gw *gateway, path, key string, rate float64, d time.Duration) loadtest.Options {
	return loadtest.Options{
		URL: gw.url + path, Method: http.MethodPost, Body: rangeBody(key),
		Header: http.Header{"Content-Type": {"application/json"}},
		Rate:   rate, Duration: d, Seed: 1, MetricsURL: gw.metrics,
	}
}

// TestEtcdOneMemberStopped: a member frozen with SIGSTOP in the middle of a read load
// costs neither route more than 0.1% of its requests.
func TestEtcdOneMemberStopped(t *testing.T) {
	c := startEtcd(t)
	gw := startGateway(t, "examples/etcd.yaml", c.rewrite())
	c.put(t, []int{0}, "k", "v1")
	c.waitValue(t, []int{0, 1, 2}, "k", "v1", 5*time.Second)

	for _, tc := range []struct{ route, path string }{{hedgeRoute, hedgePath}, {quorumRoute, quorumPath}} {
		t.Run(tc.route, func(t *testing.T) {
			// The leader: the member whose loss also costs an election. Serializable
			// reads must not notice either way.
			victim := c.leader(t)
			const rate, dur, stopAt = 200, 5 * time.Second, time.Second
			done := make(chan loadtest.Summary, 1)
			go func() { done <- load(t, tc.route+" with one member stopped", rangeLoad(gw, tc.path, "k", rate, dur)) }()
			time.Sleep(stopAt)
			c.stop(t, victim)
			t.Logf("SIGSTOP etcd%d (leader) at %v into the load", victim+1, stopAt)
			sum := <-done
			c.resume(t, victim)
			if r := ratio(sum.OK, sum.Requests); r < 0.999 {
				t.Errorf("%s: success %.4f (%d of %d) with one member stopped, want ≥ 0.999", tc.route, r, sum.OK, sum.Requests)
			}
			if sum.Requests < rate*int64(dur/time.Second)*9/10 {
				t.Errorf("only %d requests sent", sum.Requests)
			}
			// Let the old leader rejoin before the next run.
			if _, err := c.ctl(t, []int{0, 1, 2}, "endpoint", "health"); err != nil {
				time.Sleep(2 * time.Second)
			}
		})
	}
}

// TestEtcdPartitionedMember: a member cut off from its peers keeps answering
// serializable reads with what it had. The quorum route never serves that old value;
// the hedge route does, sometimes, and the test counts how often.
func TestEtcdPartitionedMember(t *testing.T) {
	c := startEtcd(t)
	gw := startGateway(t, "examples/etcd.yaml", c.rewrite())
	const key = "partition"
	c.put(t, []int{0, 1, 2}, key, "old")
	c.waitValue(t, []int{0, 1, 2}, key, "old", 5*time.Second)

	// Isolate a follower: isolating the leader would also cost an election before
	// the others can take the write, which is not what this test is about.
	iso := (c.leader(t) + 1) % 3
	var rest []int
	for i := range 3 {
		if i != iso {
			rest = append(rest, i)
		}
	}
	c.peers.isolate(iso)
	t.Logf("etcd%d cut off from its peers", iso+1)

	c.put(t, rest, key, "new")
	lin := c.get(t, rest, key, false)
	if lin != "new" {
		t.Fatalf("linearizable read through the connected members: %q, want new", lin)
	}
	c.waitValue(t, rest, key, "new", 5*time.Second)
	// The cut-off member still serves, from its own state: the old value.
	time.Sleep(300 * time.Millisecond)
	if got := c.get(t, []int{iso}, key, true); got != "old" {
		t.Fatalf("etcd%d (cut off) serves %q, want the old value", iso+1, got)
	}
	direct := read("http://"+c.client[iso]+"/v3/kv/range", key)
	if direct.value != "old" {
		t.Fatalf("etcd%d over HTTP: status %d value %q, want old", iso+1, direct.status, direct.value)
	}
	t.Logf("linearizable read (etcdctl): %q; etcd%d serializable: %q (mod_revision %s)", lin, iso+1, direct.value, direct.modRev)

	const n, rate = 300, 100.0
	for _, tc := range []struct{ route, path string }{{quorumRoute, quorumPath}, {hedgeRoute, hedgePath}} {
		before := scrape(t, gw)
		got := counts{}
		byReplica := map[string]counts{}
		results := make([]readResult, n)
		lat := paced(n, rate, func(i int) { results[i] = read(gw.url+tc.path, key) })
		for _, r := range results {
			got.add(r)
			if byReplica[r.replica] == nil {
				byReplica[r.replica] = counts{}
			}
			byReplica[r.replica].add(r)
		}
		g := loadtest.GatewayDelta(before, scrape(t, gw))
		t.Logf("%s with etcd%d partitioned: %d reads: fresh=%d stale=%d other=%v by replica=%v p50=%v p99=%v backend/request=%.3f",
			tc.route, iso+1, n, got["new"], got["old"], without(got, "new", "old"), byReplica,
			percentile(lat, 50), percentile(lat, 99), g.BackendPerRequest)
		switch tc.route {
		case quorumRoute:
			if got["old"] > 0 {
				t.Errorf("quorum route served the old value %d times of %d", got["old"], n)
			}
			if got[lin] != n {
				t.Errorf("quorum route: %v, want all %d reads = the linearizable value %q", got, n, lin)
			}
		case hedgeRoute:
			// Stale answers are the honest cost of hedging over serializable reads:
			// counted and reported, not forbidden. Every read must still answer.
			if got["new"]+got["old"] != n {
				t.Errorf("hedge route: %v, want every read answered", got)
			}
		}
	}

	// Heal the link: the member catches up.
	c.peers.heal(iso)
	caught := c.waitValue(t, []int{iso}, key, "new", 15*time.Second)
	t.Logf("etcd%d caught up %v after the link was restored", iso+1, caught.Round(time.Millisecond))
}

func without(c counts, keys ...string) counts {
	out := counts{}
	for k, v := range c {
		if !slices.Contains(keys, k) {
			out[k] = v
		}
	}
	return out
}

// TestEtcdTwoMembersStopped: with two of three frozen, no two answers can agree, so
// the quorum route fails fast with the detail, and the hedge route serves from the
// member left.
func TestEtcdTwoMembersStopped(t *testing.T) {
	c := startEtcd(t)
	gw := startGateway(t, "examples/etcd.yaml", c.rewrite())
	c.put(t, []int{0}, "k", "v1")
	c.waitValue(t, []int{0, 1, 2}, "k", "v1", 5*time.Second)
	// Calm traffic first, so attempt timeouts and hedge delays come from measured
	// latency, as they would in production.
	load(t, "warm-up quorum", rangeLoad(gw, quorumPath, "k", 100, time.Second))
	load(t, "warm-up hedge", rangeLoad(gw, hedgePath, "k", 100, time.Second))

	alive := 2
	c.stop(t, 0)
	c.stop(t, 1)
	t.Logf("SIGSTOP etcd1 and etcd2; etcd3 alone serves")

	timeout := gw.routeTimeout(t, quorumRoute)
	const n = 20
	results := make([]readResult, n)
	took := make([]time.Duration, n)
	paced(n, 20, func(i int) {
		start := time.Now()
		results[i] = read(gw.url+quorumPath, "k")
		took[i] = time.Since(start)
	})
	statuses := counts{}
	for i, r := range results {
		statuses.add(r)
		if r.err != nil {
			t.Errorf("quorum read %d: %v", i, r.err)
			continue
		}
		if r.status != http.StatusBadGateway && r.status != http.StatusGatewayTimeout {
			t.Errorf("quorum read %d: status %d, want 502 or 504: %s", i, r.status, r.body)
			continue
		}
		// The route's timeout, plus scheduling slack on a busy 2-core machine.
		if took[i] > timeout+250*time.Millisecond {
			t.Errorf("quorum read %d took %v, route timeout %v", i, took[i], timeout)
		}
		var detail struct {
			Error    string `json:"error"`
			Route    string `json:"route"`
			Attempts []struct {
				Replica string `json:"replica"`
				Error   string `json:"error"`
			} `json:"attempts"`
		}
		if err := json.Unmarshal(r.body, &detail); err != nil || detail.Error == "" || detail.Route != quorumRoute || len(detail.Attempts) == 0 {
			t.Errorf("quorum read %d: want a JSON error naming the route and its attempts, got %s", i, r.body)
		}
	}
	slices.Sort(took)
	t.Logf("quorum with two members stopped: %d reads: %v, p50 %v, slowest %v (route timeout %v); first body: %s",
		n, statuses, percentile(took, 50).Round(time.Millisecond), took[n-1].Round(time.Millisecond), timeout, results[0].body)

	for i := range n {
		r := read(gw.url+hedgePath, "k")
		if r.err != nil || r.status != http.StatusOK || r.value != "v1" {
			t.Errorf("hedge read %d: status %d value %q err %v body %s", i, r.status, r.value, r.err, r.body)
		} else if r.replica != fmt.Sprintf("etcd%d", alive+1) {
			t.Errorf("hedge read %d answered by %q, want etcd%d", i, r.replica, alive+1)
		}
	}
	sum := load(t, "hedge with two members stopped", rangeLoad(gw, hedgePath, "k", 100, 3*time.Second))
	if r := ratio(sum.OK, sum.Requests); r < 0.99 {
		t.Errorf("hedge: success %.4f with two members stopped, want ≥ 0.99", r)
	}
	c.resume(t, 0)
	c.resume(t, 1)
}
