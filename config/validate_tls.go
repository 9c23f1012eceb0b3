package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// maxPEMBytes bounds a certificate or key file: a chain of a few certificates is a
// few KiB, and a path naming a device or a huge file must not make validate or a
// reload read forever.
const maxPEMBytes = 1 << 20

// LoadCertificate reads and checks the pair tls names, as validation does: both files
// readable regular files of at most 1 MiB, PEM, the key matching the certificate, and
// the leaf valid at now (not expired, not yet to come: a gateway that presents such a
// certificate fails every client that checks it, so a reload keeps the running one
// instead). A nil certificate and nil error mean TLS is off. A problem is returned
// as Problems naming tls.cert_file or tls.key_file, the same lines `gateway
// validate` prints, so that a reload that finds the files changed since they were
// validated refuses them in the same words.
func (c *Config) LoadCertificate(now time.Time) (*tls.Certificate, error) {
	v := &validator{file: c.Source, lines: c.lines}
	cert := v.keyPair(c.TLS, now)
	if len(v.probs) > 0 {
		return nil, v.probs
	}
	return cert, nil
}

func (v *validator) tls(c *Config) {
	if c.TLS.Enabled() && c.H2C {
		v.add("h2c", "h2c is cleartext HTTP/2; with tls set, HTTP/2 is negotiated by ALPN: remove h2c")
	}
	v.keyPair(c.TLS, time.Now())
}

// keyPair is LoadCertificate's checks, reported on v.
func (v *validator) keyPair(t TLS, now time.Time) *tls.Certificate {
	switch {
	case !t.Enabled():
		return nil
	case t.CertFile == "":
		v.add("tls.cert_file", "required with tls.key_file")
		return nil
	case t.KeyFile == "":
		v.add("tls.key_file", "required with tls.cert_file")
		return nil
	}
	certPEM, certErr := readPEM(t.CertFile)
	keyPEM, keyErr := readPEM(t.KeyFile)
	if certErr != nil {
		v.add("tls.cert_file", "%v", certErr)
	}
	if keyErr != nil {
		v.add("tls.key_file", "%v", keyErr)
	}
	if certErr != nil || keyErr != nil {
		return nil
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The library's words name the side at fault ("failed to find any PEM data in
		// key input", "private key does not match public key").
		v.add(keyPairField(err), "%s and %s: %v", t.CertFile, t.KeyFile, err)
		return nil
	}
	leaf := pair.Leaf // parsed by X509KeyPair
	switch {
	case now.After(leaf.NotAfter):
		v.add("tls.cert_file", "%s: the certificate expired at %s", t.CertFile, leaf.NotAfter.UTC().Format(time.RFC3339))
		return nil
	case now.Before(leaf.NotBefore):
		v.add("tls.cert_file", "%s: the certificate is not valid before %s", t.CertFile, leaf.NotBefore.UTC().Format(time.RFC3339))
		return nil
	}
	return &pair
}

// keyPairField blames the key for errors about the key or the match, the certificate
// for the rest.
func keyPairField(err error) string {
	msg := err.Error()
	for _, s := range []string{"key input", "private key", "key does not match", "unknown key type"} {
		if strings.Contains(msg, s) {
			return "tls.key_file"
		}
	}
	return "tls.cert_file"
}

// readPEM reads a regular file of at most maxPEMBytes.
func readPEM(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPEMBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxPEMBytes {
		return nil, fmt.Errorf("%s: larger than 1 MiB; not a certificate or key", path)
	}
	return b, nil
}
