package quorum

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/hedgegate/hedgegate/config"
)

// ErrNoVersion is matched (errors.Is) by every error Extract returns: the answer has
// no usable version and does not count toward agreement. The error's text says why.
var ErrNoVersion = errors.New("no version")

// extractError keeps the reason as the whole message (no "no version: " prefix, the
// attempt detail reads better) while still matching ErrNoVersion.
type extractError struct {
	msg string
	// absent: the answer is well-formed but has no version (no header; the pointer's
	// path does not exist), as opposed to a body that is not JSON.
	absent bool
}

// absent marks err as an answer that simply has no version.
func absent(err error) error {
	if e, ok := err.(*extractError); ok {
		e.absent = true
	}
	return err
}

func (e *extractError) Error() string { return e.msg }
func (e *extractError) Unwrap() error { return ErrNoVersion }

// Extractor reads the version of a replica answer, per a route's quorum.version.
// It is immutable and safe for concurrent use.
type Extractor struct {
	header string   // canonical header name; "" unless a header version
	ptr    *pointer // nil unless a json_pointer version
	// missing is the version of a 2xx answer without one ("" : such an answer fails).
	missing string
}

// NewExtractor builds the extractor for cfg: a response header, an RFC 6901 JSON
// pointer into the body, or, when neither is set, a hash of status and body.
func NewExtractor(cfg config.Version) (*Extractor, error) {
	switch {
	case cfg.Header != "" && cfg.JSONPointer != "":
		return nil, errors.New("version: set header or json_pointer, not both")
	case cfg.Header != "":
		if !validHeaderName(cfg.Header) {
			return nil, fmt.Errorf("version.header %q: not a valid header name", cfg.Header)
		}
		return &Extractor{header: http.CanonicalHeaderKey(cfg.Header), missing: cfg.Missing}, nil
	case cfg.JSONPointer != "":
		p, err := parsePointer(cfg.JSONPointer)
		if err != nil {
			return nil, fmt.Errorf("version.json_pointer: %w", err)
		}
		return &Extractor{ptr: p, missing: cfg.Missing}, nil
	case cfg.Missing != "":
		return nil, errors.New("version.missing needs version.header or version.json_pointer")
	}
	return &Extractor{}, nil
}

// NeedsBody reports whether Extract reads the body. False for header versions, so the
// engine may stream the winner's body instead of buffering every answer.
func (e *Extractor) NeedsBody() bool { return e.header == "" }

// Extract returns the version of one answer. body is ignored for header versions.
// Errors match ErrNoVersion and read as the reason, e.g. "no X-Version header" or
// "json pointer /kvs/0/mod_revision: index 0 out of range (/kvs has 0 elements)".
//
// A JSON string "42" and a JSON number 42 both give Raw "42"; numbers keep their
// literal text (no float rounding, so integers beyond 2^64 survive). Body-hash
// versions are "sha256:" plus the first 16 bytes of sha256(status, body) in hex; the
// prefix keeps them opaque even when every hex digit happens to be a decimal digit.
func (e *Extractor) Extract(status int, h http.Header, body []byte) (Version, error) {
	switch {
	case e.header != "":
		vals := h.Values(e.header)
		if len(vals) == 0 {
			return e.orMissing(status, &extractError{msg: "no " + e.header + " header", absent: true})
		}
		v := strings.TrimSpace(vals[0])
		if v == "" {
			return Version{}, &extractError{msg: "empty " + e.header + " header"}
		}
		return Version{Raw: v}, nil
	case e.ptr != nil:
		raw, err := e.ptr.find(body)
		if err != nil {
			return e.orMissing(status, err)
		}
		return Version{Raw: raw}, nil
	}
	d := sha256.New()
	var buf [24]byte
	// The status is part of the version so that a 404 and a 200 with the same body differ.
	d.Write(strconv.AppendInt(buf[:0], int64(status), 10))
	d.Write([]byte{'\n'})
	d.Write(body)
	var sum [sha256.Size]byte
	return Version{Raw: "sha256:" + hex.EncodeToString(d.Sum(sum[:0])[:16])}, nil
}

// orMissing gives a 2xx answer that has no version the configured missing version,
// so replicas agreeing that a key is absent can form a quorum; anything else stays err.
func (e *Extractor) orMissing(status int, err error) (Version, error) {
	var xe *extractError
	if e.missing != "" && status >= 200 && status < 300 && errors.As(err, &xe) && xe.absent {
		return Version{Raw: e.missing}, nil
	}
	return Version{}, err
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}
