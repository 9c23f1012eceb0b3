// Package testcert makes TLS certificates for tests: generated when the test runs,
// valid for the loopback address 127.0.0.1 (or names of the test's choosing), never a
// key committed to the repository. It is imported by tests only.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Pair is a self-signed certificate for 127.0.0.1 and its key, written to files.
type Pair struct {
	CertFile, KeyFile string
	// Cert is the parsed certificate, for a client's RootCAs and for comparing what a
	// server presents.
	Cert *x509.Certificate
}

// Options shape a certificate. The zero value is valid from an hour ago to an hour
// from now.
type Options struct {
	// Name is the subject's common name, so that tests can tell two pairs apart.
	Name string
	// NotBefore and NotAfter bound its validity; zero: an hour either side of now.
	NotBefore, NotAfter time.Time
	// DNSNames, when set, are the names the certificate is for, in place of 127.0.0.1:
	// a server on loopback that a client must verify by name.
	DNSNames []string
}

// Write generates a pair and writes it as PEM files named after opts.Name in dir.
func Write(t testing.TB, dir string, opts Options) Pair {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "hedgegate-test"
	}
	now := time.Now()
	if opts.NotBefore.IsZero() {
		opts.NotBefore = now.Add(-time.Hour)
	}
	if opts.NotAfter.IsZero() {
		opts.NotAfter = now.Add(time.Hour)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.Name},
		NotBefore:             opts.NotBefore,
		NotAfter:              opts.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // self-signed: it is its own root in the client's pool
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if len(opts.DNSNames) > 0 {
		tmpl.IPAddresses, tmpl.DNSNames = nil, opts.DNSNames
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := Pair{CertFile: filepath.Join(dir, opts.Name+".crt"), KeyFile: filepath.Join(dir, opts.Name+".key"), Cert: cert}
	writePEM(t, p.CertFile, "CERTIFICATE", der)
	writePEM(t, p.KeyFile, "PRIVATE KEY", keyDER)
	return p
}

func writePEM(t testing.TB, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// ClientConfig trusts the given pairs' certificates and nothing else.
func ClientConfig(pairs ...Pair) *tls.Config {
	pool := x509.NewCertPool()
	for _, p := range pairs {
		pool.AddCert(p.Cert)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
