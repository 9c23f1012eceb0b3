package server

import (
	"context"
	"os"
	"testing"
	"testing/synctest"
	"time"
)

// The loop's schedule on synctest's clock: at once at start, every second (plus the
// host's offset) while the set has no member, then every refresh plus the host's
// offset, whatever the lookups answer; a reload to another refresh takes effect from
// the next lookup.
func TestDiscoveryRefreshSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dns := newFakeDNS()
		dns.fail(errNXDOMAIN)
		s, path := newDiscoveryServer(t, discoveryYAML(`{dns: "kv.test.:9101", refresh: 10s}`, 0, "strategy: hedge"), dns, nil)
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.discover(ctx); close(done) }()
		defer func() { stop(); <-done }()

		host, _ := os.Hostname()
		retry := time.Second + offsetFor(host, "kv", 100*time.Millisecond)
		refresh := 10*time.Second + offsetFor(host, "kv", time.Second)
		t0 := time.Now()
		at := func(n int) time.Duration {
			t.Helper()
			for i := 0; len(dns.lookups()) < n && i < 1000; i++ { // 100s of synctest's clock
				time.Sleep(100 * time.Millisecond)
				synctest.Wait()
			}
			l := dns.lookups()
			if len(l) < n {
				t.Fatalf("%d lookups, want %d", len(l), n)
			}
			return l[n-1].Sub(t0)
		}
		synctest.Wait()
		if got := at(1); got != 0 {
			t.Errorf("first lookup at %v, want at once", got)
		}
		if got := at(2); got != retry {
			t.Errorf("second lookup at %v, want %v (a set with no member retries every second)", got, retry)
		}
		dns.fail(nil)
		dns.setAddrs("kv.test.", "10.0.0.1")
		if got := at(3); got != 2*retry {
			t.Errorf("third lookup at %v, want %v", got, 2*retry)
		}
		synctest.Wait()
		if memberNames(s, "kv") != "10.0.0.1:9101" {
			t.Fatalf("members %q after an answer", memberNames(s, "kv"))
		}
		dns.fail(errNXDOMAIN) // a failing lookup keeps the member, and the refresh
		if got := at(4); got != 2*retry+refresh {
			t.Errorf("fourth lookup at %v, want %v (refresh plus the host's offset)", got, 2*retry+refresh)
		}
		if got := at(5); got != 2*retry+2*refresh {
			t.Errorf("fifth lookup at %v, want %v: a failure must not speed lookups up while the set has members", got, 2*retry+2*refresh)
		}
		if memberNames(s, "kv") != "10.0.0.1:9101" {
			t.Errorf("members %q after failed lookups", memberNames(s, "kv"))
		}

		// A reload to a 30s refresh: the loop wakes and schedules from the last lookup.
		write := discoveryYAML(`{dns: "kv.test.:9101", refresh: 30s}`, 0, "strategy: hedge")
		if err := os.WriteFile(path, []byte(write), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.Reload(path); err != nil {
			t.Fatal(err)
		}
		slow := 30*time.Second + offsetFor(host, "kv", 3*time.Second)
		if got := at(6); got != 2*retry+2*refresh+slow {
			t.Errorf("lookup after the reload at %v, want %v", got, 2*retry+2*refresh+slow)
		}
	})
}

// The offset is the host's own: stable, in [0, span), and spread across hosts and sets.
func TestOffsetForSpreadsHostsAndSets(t *testing.T) {
	span := time.Second
	if offsetFor("gw-1", "kv", span) != offsetFor("gw-1", "kv", span) {
		t.Error("the offset changed between calls")
	}
	seen := map[time.Duration]bool{}
	for i := range 100 {
		o := offsetFor("gw-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "kv", span)
		if o < 0 || o >= span {
			t.Fatalf("offset %v outside [0, %v)", o, span)
		}
		seen[o] = true
	}
	if len(seen) < 95 {
		t.Errorf("100 hosts share %d offsets", len(seen))
	}
	if offsetFor("gw-1", "kv", span) == offsetFor("gw-1", "search", span) {
		t.Error("two sets of one host look up at the same offset")
	}
	if offsetFor("gw-1", "kv", 0) != 0 {
		t.Error("a zero span must give no offset")
	}
}
