package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/internal/testcert"
)

func TestEdgeKeysDefaults(t *testing.T) {
	c, err := Parse([]byte(base), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsListen != "" || c.TLS.Enabled() || c.H2C {
		t.Errorf("metrics_listen %q, tls %+v, h2c %v: want all off by default", c.MetricsListen, c.TLS, c.H2C)
	}
	if c.Log != (Log{Level: "info", Format: "json", Access: AccessLog{Enabled: false, Sample: 1}}) {
		t.Errorf("log = %+v", c.Log)
	}
}

func TestEdgeKeysProblems(t *testing.T) {
	dir := t.TempDir()
	good := testcert.Write(t, dir, testcert.Options{Name: "good"})
	other := testcert.Write(t, dir, testcert.Options{Name: "other"})
	expired := testcert.Write(t, dir, testcert.Options{Name: "expired",
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	future := testcert.Write(t, dir, testcert.Options{Name: "future", NotBefore: time.Now().Add(24 * time.Hour)})
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not PEM at all\n"), 0o600)
	huge := filepath.Join(dir, "huge.pem")
	os.WriteFile(huge, make([]byte, 2<<20), 0o600)
	missing := filepath.Join(dir, "missing.pem")

	tlsKeys := func(cert, key string) string {
		return "tls: {cert_file: " + cert + ", key_file: " + key + "}\nreplica_sets:"
	}
	for _, tt := range []struct {
		name, new string
		want      []string // each must appear, in this order, one per line
	}{
		{"valid pair", tlsKeys(good.CertFile, good.KeyFile), nil},
		{"cert without key", "tls: {cert_file: " + good.CertFile + "}\nreplica_sets:",
			[]string{"x.yaml:1: tls.key_file: required with tls.cert_file"}},
		{"key without cert", "tls:\n  key_file: " + good.KeyFile + "\nreplica_sets:",
			[]string{"x.yaml:1: tls.cert_file: required with tls.key_file"}}, // the line of tls:
		{"unreadable files", tlsKeys(missing, dir),
			[]string{"x.yaml:1: tls.cert_file: " + missing + ": no such file or directory",
				"x.yaml:1: tls.key_file: " + dir + ": not a regular file"}},
		{"mismatched key", tlsKeys(good.CertFile, other.KeyFile),
			[]string{"x.yaml:1: tls.key_file: ", "private key does not match public key"}},
		{"key file holds no key", tlsKeys(good.CertFile, garbage),
			[]string{"x.yaml:1: tls.key_file: ", "failed to find any PEM data in key input"}},
		{"cert file holds no cert", tlsKeys(garbage, good.KeyFile),
			[]string{"x.yaml:1: tls.cert_file: ", "failed to find any PEM data in certificate input"}},
		{"huge file", tlsKeys(huge, good.KeyFile),
			[]string{"x.yaml:1: tls.cert_file: " + huge + ": larger than 1 MiB"}},
		{"expired", tlsKeys(expired.CertFile, expired.KeyFile),
			[]string{"x.yaml:1: tls.cert_file: " + expired.CertFile + ": the certificate expired at "}},
		{"not yet valid", tlsKeys(future.CertFile, future.KeyFile),
			[]string{"x.yaml:1: tls.cert_file: " + future.CertFile + ": the certificate is not valid before "}},
		{"h2c with tls", "h2c: true\n" + tlsKeys(good.CertFile, good.KeyFile),
			[]string{"x.yaml:1: h2c: h2c is cleartext HTTP/2; with tls set"}},
		{"metrics listener collides", "admin_listen: 127.0.0.1:9901\nmetrics_listen: 0.0.0.0:9901\nreplica_sets:",
			[]string{`x.yaml:2: metrics_listen: "0.0.0.0:9901" collides with admin_listen "127.0.0.1:9901"`}},
		{"metrics listener collides with listen", "metrics_listen: :8080\nreplica_sets:",
			[]string{`x.yaml:1: metrics_listen: ":8080" collides with listen "127.0.0.1:8080"`}},
		{"metrics listener address", "metrics_listen: 9902\nreplica_sets:",
			[]string{"x.yaml:1: metrics_listen: want host:port"}},
		{"log level", "log: {level: verbose}\nreplica_sets:",
			[]string{`x.yaml:1: log.level: "verbose": want debug, info, warn or error`}},
		{"log format", "log: {format: logfmt}\nreplica_sets:",
			[]string{`x.yaml:1: log.format: "logfmt": want json or text`}},
		{"access sample zero", "log: {access: {enabled: true, sample: 0}}\nreplica_sets:",
			[]string{"x.yaml:1: log.access.sample: must be in (0,1], got 0 (to log no request, set log.access.enabled: false)"}},
		{"access sample over one", "log:\n  access:\n    sample: 1.5\nreplica_sets:",
			[]string{"x.yaml:3: log.access.sample: must be in (0,1], got 1.5"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(edit(t, "replica_sets:", tt.new)), "x.yaml")
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				cert, err := c.LoadCertificate(time.Now())
				if err != nil || cert == nil || cert.Leaf.Subject.CommonName != "good" {
					t.Fatalf("LoadCertificate: %v, %v", cert, err)
				}
				return
			}
			if err == nil {
				t.Fatal("no problem reported")
			}
			got := err.Error()
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("got:\n%s\nwant it to contain %q", got, w)
				}
				rest = rest[i+len(w):]
			}
			// A want not starting with the file is the rest of the line before it.
			if n := len(strings.Split(got, "\n")); n != countPrefixed(tt.want) {
				t.Errorf("got %d problems, want %d:\n%s", n, countPrefixed(tt.want), got)
			}
		})
	}
}

func countPrefixed(want []string) int {
	n := 0
	for _, w := range want {
		if strings.HasPrefix(w, "x.yaml:") {
			n++
		}
	}
	return n
}

// A reload reads the pair again: LoadCertificate refuses files that changed for the
// worse since the config was validated, in validate's words.
func TestLoadCertificateSeesTheFilesAsTheyAreNow(t *testing.T) {
	dir := t.TempDir()
	p := testcert.Write(t, dir, testcert.Options{Name: "gw"})
	c, err := Parse([]byte(edit(t, "replica_sets:", "tls:\n  cert_file: "+p.CertFile+"\n  key_file: "+p.KeyFile+"\nreplica_sets:")), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.LoadCertificate(p.Cert.NotAfter.Add(time.Second)); err == nil ||
		!strings.HasPrefix(err.Error(), "x.yaml:2: tls.cert_file: ") || !strings.Contains(err.Error(), "expired") {
		t.Errorf("after NotAfter: %v, want the expiry named at line 2", err)
	}
	os.Remove(p.KeyFile)
	if _, err := c.LoadCertificate(time.Now()); err == nil || !strings.HasPrefix(err.Error(), "x.yaml:3: tls.key_file: ") {
		t.Errorf("key removed: %v, want tls.key_file at line 3", err)
	}
	off, _ := Parse([]byte(base), "x.yaml")
	if cert, err := off.LoadCertificate(time.Now()); cert != nil || err != nil {
		t.Errorf("no tls: %v, %v; want nil, nil", cert, err)
	}
}
