package server

import (
	"crypto/tls"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/internal/testcert"
)

// presented is the common name of the certificate a new TLS connection to g gets.
func presented(t *testing.T, g *live, trust ...testcert.Pair) string {
	t.Helper()
	cfg := testcert.ClientConfig(trust...)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(g.base, "https://"), cfg)
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A renewed pair written over the old files (as cert-manager or certbot do) serves
// new connections after a reload, without a restart; connections already open keep
// going. A pair that is unreadable, mismatched or expired is refused like a bad
// config: the running certificate stays.
func TestReloadSwapsTheCertificateAndRefusesABadOne(t *testing.T) {
	ok := newReplica(t, "r1", nil)
	g := serveOver(t, protocols[1], gatewayYAML([]string{ok.srv.URL}, ""), false, nil)
	dir := t.TempDir()
	renewed := testcert.Write(t, dir, testcert.Options{Name: "renewed"})
	other := testcert.Write(t, dir, testcert.Options{Name: "other"})
	expired := testcert.Write(t, dir, testcert.Options{Name: "expired",
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	trust := []testcert.Pair{g.pair, renewed, other, expired}

	if cn := presented(t, g, trust...); cn != "gw" {
		t.Fatalf("first certificate %q", cn)
	}
	g.tr.TLSClientConfig = testcert.ClientConfig(trust...)
	if r := g.do(t, "GET", "/kv/a", nil, nil); r.status != 200 { // a connection kept open across the swap
		t.Fatal(r.status)
	}
	dials := g.dials.Load()

	copyFile(t, renewed.CertFile, g.pair.CertFile)
	copyFile(t, renewed.KeyFile, g.pair.KeyFile)
	if err := g.srv.Reload(g.path); err != nil {
		t.Fatalf("reload with a renewed pair: %v", err)
	}
	if cn := presented(t, g, trust...); cn != "renewed" {
		t.Fatalf("after the reload a new connection got %q, want the renewed certificate", cn)
	}
	if r := g.do(t, "GET", "/kv/b", nil, nil); r.status != 200 || g.dials.Load() != dials {
		t.Errorf("the connection opened before the reload: %d, %d new connections", r.status, g.dials.Load()-dials)
	}
	if _, page := get(t, "GET", g.admin+"/metrics"); !strings.Contains(page, "hedgegate_tls_certificate_expiry_timestamp_seconds ") {
		t.Error("no certificate expiry on /metrics")
	}
	if v := testutil.ToFloat64(&certCollector{g.srv}); v != float64(renewed.Cert.NotAfter.Unix()) {
		t.Errorf("expiry gauge %v, want the renewed certificate's %d", v, renewed.Cert.NotAfter.Unix())
	}

	for _, tc := range []struct {
		name       string
		cert, key  string // copied over the configured files; "" removes the file
		path, want string
	}{
		{"mismatched key", renewed.CertFile, other.KeyFile, "tls.key_file", "private key does not match public key"},
		{"expired", expired.CertFile, expired.KeyFile, "tls.cert_file", "the certificate expired at"},
		{"key removed", renewed.CertFile, "", "tls.key_file", "no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			copyFile(t, tc.cert, g.pair.CertFile)
			if tc.key == "" {
				os.Remove(g.pair.KeyFile)
			} else {
				copyFile(t, tc.key, g.pair.KeyFile)
			}
			err := g.srv.Reload(g.path)
			var probs config.Problems
			if !errors.As(err, &probs) || len(probs) != 1 || probs[0].Path != tc.path ||
				!strings.Contains(probs[0].Message, tc.want) || probs[0].Line != 1 {
				t.Fatalf("reload: %v, want one problem at line 1, %s, saying %q", err, tc.path, tc.want)
			}
			if cn := presented(t, g, trust...); cn != "renewed" {
				t.Errorf("after a refused reload a new connection got %q, want the running certificate", cn)
			}
			if v := testutil.ToFloat64(g.srv.metrics.reloadError); v != 1 {
				t.Errorf("hedgegate_config_last_reload_error = %v", v)
			}
		})
	}
	// POST /reload says the same as gateway validate would.
	code, body := get(t, http.MethodPost, g.admin+"/reload")
	if code != http.StatusBadRequest || !strings.Contains(body, g.path+":1: tls.key_file: ") {
		t.Errorf("POST /reload: %d %s", code, body)
	}
}

// Keys read only at start are refused on reload, each named with its line; the
// running config stays.
func TestReloadRefusesWhatOnlyARestartChanges(t *testing.T) {
	ok := newReplica(t, "r1", nil)
	dir := t.TempDir()
	pair := testcert.Write(t, dir, testcert.Options{})
	g := newGateway(t, gatewayYAML([]string{ok.srv.URL}, ""))
	path := dir + "/gw.yaml"
	for _, tc := range []struct{ name, extra, want string }{
		{"tls on", "tls: {cert_file: " + pair.CertFile + ", key_file: " + pair.KeyFile + "}\n",
			":3: tls: cannot be switched on or off on reload (restart the gateway); a new cert_file and key_file can"},
		{"h2c on", "h2c: true\n", ":3: h2c: cannot change on reload (restart the gateway)"},
		{"metrics listener", "metrics_listen: 127.0.0.1:0\n", ":3: metrics_listen: cannot change on reload (restart the gateway)"},
		{"log format", "log: {format: text}\n", ":3: log.format: cannot change on reload (restart the gateway)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(path, []byte(gatewayYAML([]string{ok.srv.URL}, tc.extra)), 0o600)
			err := g.srv.Reload(path)
			if err == nil || err.Error() != path+tc.want {
				t.Errorf("got %v\nwant %s", err, path+tc.want)
			}
			if g.srv.Config().Source != "test.yaml" {
				t.Error("the refused config was put in force")
			}
		})
	}
}
