package config

import (
	"strings"
	"testing"
)

// protocol and client are checked against each replica's scheme, each problem on
// the line of the key that causes it, with what to write instead.
func TestReplicaSetProtocol(t *testing.T) {
	set := func(keys, url string) string {
		return "replica_sets:\n  kv:\n" + keys + "    replicas:\n      - {name: r1, url: \"" + url + "\"}\n" +
			"routes:\n  - name: kv\n    match: /kv/{key}\n    replica_set: kv\n"
	}
	for _, tt := range []struct {
		name, yaml, want string // want "": valid
		protocol, client string
	}{
		{name: "defaults", yaml: set("", "http://127.0.0.1:9101"), protocol: ProtocolHTTP1, client: ClientAuto},
		{name: "h2c over http", yaml: set("    protocol: h2c\n", "http://127.0.0.1:9101"), protocol: ProtocolH2C, client: ClientAuto},
		{name: "h2 over https", yaml: set("    protocol: h2\n", "https://127.0.0.1:9101"), protocol: ProtocolH2, client: ClientAuto},
		{name: "net/http for http1", yaml: set("    client: net/http\n", "http://127.0.0.1:9101"), protocol: ProtocolHTTP1, client: ClientNetHTTP},
		{name: "h2 over http", yaml: set("    protocol: h2\n", "http://127.0.0.1:9101"),
			want: "x.yaml:5: replica_sets.kv.replicas[0].url: protocol h2 negotiates HTTP/2 by ALPN over TLS: want an https:// URL"},
		{name: "h2c over https", yaml: set("    protocol: h2c\n", "https://127.0.0.1:9101"),
			want: "x.yaml:5: replica_sets.kv.replicas[0].url: protocol h2c is HTTP/2 without TLS: want an http:// URL"},
		{name: "hedgegate client over https", yaml: set("    client: hedgegate\n", "https://127.0.0.1:9101"),
			want: "replica_sets.kv.replicas[0].url: client hedgegate has no TLS"},
		{name: "hedgegate client for h2c", yaml: set("    protocol: h2c\n    client: hedgegate\n", "http://127.0.0.1:9101"),
			want: "x.yaml:4: replica_sets.kv.client: hedgegate's client speaks HTTP/1.1 only"},
		{name: "h2 for an http discovery set", yaml: "replica_sets:\n  kv:\n    protocol: h2\n    discovery: {dns: \"kv.test.:9101\"}\n" +
			"routes:\n  - name: kv\n    match: /kv/{key}\n    replica_set: kv\n    quorum: {read: 1}\n",
			want: "replica_sets.kv.discovery.scheme: protocol h2 negotiates HTTP/2 by ALPN over TLS"},
		{name: "unknown protocol", yaml: set("    protocol: http2\n", "http://127.0.0.1:9101"),
			want: `x.yaml:3: replica_sets.kv.protocol: unknown protocol "http2" (want http1, h2c or h2)`},
		{name: "unknown client", yaml: set("    client: curl\n", "http://127.0.0.1:9101"),
			want: `x.yaml:3: replica_sets.kv.client: unknown client "curl" (want auto, hedgegate or net/http)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), "x.yaml")
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want one containing %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rs := c.ReplicaSets["kv"]
			if rs.Protocol != tt.protocol || rs.Client != tt.client {
				t.Errorf("protocol %q client %q, want %q %q", rs.Protocol, rs.Client, tt.protocol, tt.client)
			}
		})
	}
}
