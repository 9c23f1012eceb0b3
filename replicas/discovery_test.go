package replicas

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/internal/dnstest"
)

func names(rs []config.Replica) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name+"="+r.URL)
	}
	return strings.Join(out, " ")
}

var loopback = netip.MustParseAddr("127.0.0.1")

// Lookup through net's own resolver, against a DNS server on loopback: every way an
// answer can come back, as the gateway will see it.
func TestLookupAgainstADNSServer(t *testing.T) {
	dns := dnstest.Start(t)
	res := dns.Resolver()
	dns.SetAddrs("kv.test", loopback)
	dns.SetSRV("_http._tcp.kv.test",
		dnstest.SRV{Target: "a.kv.test", Port: 9102, Priority: 10},
		dnstest.SRV{Target: "b.kv.test", Port: 9101, Priority: 20}, // a standby tier still serves
		dnstest.SRV{Target: "gone.kv.test", Port: 9103},            // no such host: skipped
		dnstest.SRV{Target: "a.kv.test", Port: 9102})               // the same member twice
	dns.SetAddrs("a.kv.test", loopback)
	dns.SetAddrs("b.kv.test", loopback)
	dns.SetAddrs("both.kv.test", loopback, netip.IPv6Loopback()) // records only: nothing dials them
	dns.SetAddrs("nodata.kv.test")                               // exists, no address
	dns.SetSRV("_http._tcp.both.kv.test", dnstest.SRV{Target: "both.kv.test", Port: 9104})
	dns.SetSRV("_http._tcp.closed.kv.test", dnstest.SRV{Target: "."}) // "not available here"

	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		d      config.Discovery
		want   string // members, or the result when the lookup fails
		result string
	}{
		{"A record", config.Discovery{DNS: "kv.test.:9101", Scheme: "http"}, "127.0.0.1:9101=http://127.0.0.1:9101", LookupOK},
		{"https", config.Discovery{DNS: "kv.test.:9443", Scheme: "https"}, "127.0.0.1:9443=https://127.0.0.1:9443", LookupOK},
		{"SRV", config.Discovery{SRV: "_http._tcp.kv.test.", Scheme: "http"},
			"127.0.0.1:9101=http://127.0.0.1:9101 127.0.0.1:9102=http://127.0.0.1:9102", LookupOK},
		{"both families", config.Discovery{DNS: "both.kv.test.:9101", Scheme: "http", Family: "ip"},
			"127.0.0.1:9101=http://127.0.0.1:9101 [::1]:9101=http://[::1]:9101", LookupOK},
		{"A records only", config.Discovery{DNS: "both.kv.test.:9101", Scheme: "http", Family: "ip4"},
			"127.0.0.1:9101=http://127.0.0.1:9101", LookupOK},
		{"AAAA records only", config.Discovery{DNS: "both.kv.test.:9101", Scheme: "http", Family: "ip6"},
			"[::1]:9101=http://[::1]:9101", LookupOK},
		{"SRV targets' A records only", config.Discovery{SRV: "_http._tcp.both.kv.test.", Scheme: "http", Family: "ip4"},
			"127.0.0.1:9104=http://127.0.0.1:9104", LookupOK},
		{"NXDOMAIN", config.Discovery{DNS: "nope.kv.test.:1", Scheme: "http"}, "", LookupNotFound},
		{"no address records", config.Discovery{DNS: "nodata.kv.test.:1", Scheme: "http"}, "", LookupNotFound},
		{"SRV of no usable target", config.Discovery{SRV: "_http._tcp.closed.kv.test.", Scheme: "http"}, "", LookupEmpty},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Lookup(ctx, res, &tt.d)
			if r := LookupResult(err); r != tt.result || names(got) != tt.want {
				t.Errorf("Lookup = %q, %v (%s); want %q (%s)", names(got), err, r, tt.want, tt.result)
			}
		})
	}

	dns.SetMode(dnstest.ServFail)
	if _, err := Lookup(ctx, res, &config.Discovery{DNS: "kv.test.:1", Scheme: "http"}); LookupResult(err) != LookupError {
		t.Errorf("SERVFAIL: %v (%s), want %s", err, LookupResult(err), LookupError)
	}
	dns.SetMode(dnstest.Silent)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := Lookup(short, res, &config.Discovery{DNS: "kv.test.:1", Scheme: "http"}); LookupResult(err) != LookupTimeout {
		t.Errorf("no answer: %v (%s), want %s", err, LookupResult(err), LookupTimeout)
	}
}

// fakeResolver answers from maps; a missing name is NXDOMAIN.
type fakeResolver struct {
	addrs map[string][]netip.Addr
	srv   map[string][]*net.SRV
	err   map[string]error
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if err := f.err[host]; err != nil {
		return nil, err
	}
	if a, ok := f.addrs[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (f *fakeResolver) LookupSRV(_ context.Context, _, _, name string) (string, []*net.SRV, error) {
	if err := f.err[name]; err != nil {
		return "", nil, err
	}
	if s, ok := f.srv[name]; ok {
		return name, s, nil
	}
	return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func TestLookupSRVFailsOnATargetThatFails(t *testing.T) {
	f := &fakeResolver{
		srv:   map[string][]*net.SRV{"_http._tcp.kv": {{Target: "a.kv.", Port: 1}, {Target: "b.kv.", Port: 2}}},
		addrs: map[string][]netip.Addr{"a.kv.": {netip.MustParseAddr("10.0.0.1")}},
		err:   map[string]error{"b.kv.": &net.DNSError{Err: "server misbehaving", Name: "b.kv.", IsTemporary: true}},
	}
	got, err := Lookup(context.Background(), f, &config.Discovery{SRV: "_http._tcp.kv", Scheme: "http"})
	if err == nil || LookupResult(err) != LookupError || !strings.Contains(err.Error(), "SRV target b.kv.") {
		t.Errorf("Lookup = %v, %v: a target that could not be resolved must fail the lookup, not shrink the set", got, err)
	}
}

func TestLookupIPv6AndTooManyMembers(t *testing.T) {
	f := &fakeResolver{addrs: map[string][]netip.Addr{
		"kv": {netip.MustParseAddr("fd00::5"), netip.MustParseAddr("::ffff:10.0.0.5"), netip.MustParseAddr("0.0.0.0")},
	}}
	got, err := Lookup(context.Background(), f, &config.Discovery{DNS: "kv:9101", Scheme: "http"})
	if err != nil || names(got) != "10.0.0.5:9101=http://10.0.0.5:9101 [fd00::5]:9101=http://[fd00::5]:9101" {
		t.Errorf("Lookup = %q, %v", names(got), err)
	}
	var many []netip.Addr
	for i := range config.MaxDiscoveredMembers + 1 {
		many = append(many, netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	f.addrs["kv"] = many
	if _, err := Lookup(context.Background(), f, &config.Discovery{DNS: "kv:9101", Scheme: "http"}); err == nil ||
		LookupResult(err) != LookupError || !strings.Contains(err.Error(), "more than the 64") {
		t.Errorf("%d members: %v, want a failed lookup", len(many), err)
	}
}

func TestLookupResultNamesEveryKind(t *testing.T) {
	for err, want := range map[error]string{
		nil:                              LookupOK,
		errEmpty:                         LookupEmpty,
		context.DeadlineExceeded:         LookupTimeout,
		errors.New("bad message"):        LookupError,
		&net.DNSError{IsTimeout: true}:   LookupTimeout,
		&net.DNSError{IsNotFound: true}:  LookupNotFound,
		&net.DNSError{IsTemporary: true}: LookupError,
	} {
		if got := LookupResult(err); got != want || !slices.Contains(LookupResults, got) {
			t.Errorf("LookupResult(%v) = %s, want %s (one of %v)", err, got, want, LookupResults)
		}
	}
}

// FuzzMembers: whatever addresses an answer holds, the members are usable replicas of
// a set: unique, sorted, each URL accepted by NewSet and dialling the member's name,
// at most MaxDiscoveredMembers.
func FuzzMembers(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1, 0x23, 0x8d}, true)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 127, 0, 0, 1, 0, 80}, false)
	f.Fuzz(func(t *testing.T, raw []byte, six bool) {
		var found []netip.AddrPort
		size := 6
		if six {
			size = 18
		}
		for len(raw) >= size {
			var a netip.Addr
			if six {
				a = netip.AddrFrom16([16]byte(raw[:16]))
			} else {
				a = netip.AddrFrom4([4]byte(raw[:4]))
			}
			found = append(found, netip.AddrPortFrom(a, uint16(raw[size-2])<<8|uint16(raw[size-1])))
			raw = raw[size:]
		}
		got, err := members("http", found)
		if err != nil {
			if LookupResult(err) == LookupOK {
				t.Fatalf("an error that reads as ok: %v", err)
			}
			return
		}
		if len(got) == 0 || len(got) > config.MaxDiscoveredMembers {
			t.Fatalf("%d members", len(got))
		}
		for _, m := range got {
			// What NewSet asks of a URL, and the name is the address dialled.
			if u, err := parseURL(m.URL); err != nil || u.Host != m.Name || u.Path != "" {
				t.Fatalf("member %+v: URL %v, %v", m, u, err)
			}
		}
		for i := 1; i < len(got); i++ {
			if got[i-1].Name >= got[i].Name {
				t.Fatalf("not sorted and unique: %v", got)
			}
		}
	})
}
