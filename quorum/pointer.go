package quorum

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// pointer is a parsed RFC 6901 JSON pointer.
type pointer struct {
	text   string   // as configured, for error messages
	tokens []string // unescaped reference tokens
	ends   []int    // ends[i]: length of the text prefix that names tokens[:i+1]
}

func parsePointer(s string) (*pointer, error) {
	p := &pointer{text: s}
	if s == "" {
		return p, nil
	}
	if s[0] != '/' {
		return nil, fmt.Errorf("json pointer %q: must start with /", s)
	}
	pos := 0
	for _, raw := range strings.Split(s[1:], "/") {
		pos += 1 + len(raw)
		tok, err := unescapeToken(raw)
		if err != nil {
			return nil, fmt.Errorf("json pointer %q: %w", s, err)
		}
		p.tokens = append(p.tokens, tok)
		p.ends = append(p.ends, pos)
	}
	return p, nil
}

// unescapeToken decodes ~1 to / and ~0 to ~ in one left-to-right pass, which is what
// makes "~01" decode to "~1" (RFC 6901 section 4) and not to "/".
func unescapeToken(raw string) (string, error) {
	if !strings.Contains(raw, "~") {
		return raw, nil
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if raw[i] != '~' {
			b.WriteByte(raw[i])
			continue
		}
		if i+1 == len(raw) || (raw[i+1] != '0' && raw[i+1] != '1') {
			return "", fmt.Errorf("token %q: ~ must be followed by 0 or 1", raw)
		}
		if raw[i+1] == '0' {
			b.WriteByte('~')
		} else {
			b.WriteByte('/')
		}
		i++
	}
	return b.String(), nil
}

// where names the value reached after the first n tokens, for error messages.
func (p *pointer) where(n int) string {
	if n == 0 {
		return "the document"
	}
	return p.text[:p.ends[n-1]]
}

func (p *pointer) errorf(format string, args ...any) error {
	return &extractError{msg: "json pointer " + p.text + ": " + fmt.Sprintf(format, args...)}
}

// find returns the version text of the number or string p points to in body.
// It validates the whole body first, so a truncated or trailing-garbage body is an
// error rather than a version read from its first half; then it walks tokens and
// stops at the target without decoding the rest into memory.
func (p *pointer) find(body []byte) (string, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return "", p.errorf("body is empty, not JSON")
	}
	if !json.Valid(body) {
		return "", p.errorf("body is not JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for n, tok := range p.tokens {
		t, err := dec.Token()
		if err != nil {
			return "", p.errorf("body is not JSON: %v", err)
		}
		switch t {
		case json.Delim('{'):
			found := false
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return "", p.errorf("body is not JSON: %v", err)
				}
				// The first of duplicate keys wins; RFC 8259 leaves duplicates undefined.
				if k, _ := kt.(string); k == tok {
					found = true
					break
				}
				if err := skipValue(dec); err != nil {
					return "", p.errorf("body is not JSON: %v", err)
				}
			}
			if !found {
				return "", absent(p.errorf("no key %q in %s", tok, p.where(n)))
			}
		case json.Delim('['):
			idx, ok := arrayIndex(tok)
			if !ok {
				return "", p.errorf("%q is not an array index (%s is an array)", tok, p.where(n))
			}
			i := 0
			for ; i < idx && dec.More(); i++ {
				if err := skipValue(dec); err != nil {
					return "", p.errorf("body is not JSON: %v", err)
				}
			}
			if !dec.More() {
				return "", absent(p.errorf("index %s out of range (%s has %d elements)", tok, p.where(n), i))
			}
		default:
			return "", p.errorf("%s is %s, not an object or array", p.where(n), kind(t))
		}
	}
	t, err := dec.Token()
	if err != nil {
		return "", p.errorf("body is not JSON: %v", err)
	}
	switch v := t.(type) {
	case json.Number:
		return string(v), nil
	case string:
		if v == "" {
			return "", p.errorf("value is an empty string")
		}
		return v, nil
	}
	return "", p.errorf("value is %s, not a number or string", kind(t))
}

// arrayIndex parses an RFC 6901 array index: "0" or digits without a leading zero.
// "-" (past the end) and indexes too large for an int never name an element; they
// are reported as out of range.
func arrayIndex(tok string) (int, bool) {
	if tok == "-" {
		return int(^uint(0) >> 1), true
	}
	if tok == "" || (len(tok) > 1 && tok[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(tok)
	if err != nil {
		return int(^uint(0) >> 1), true
	}
	return n, true
}

// skipValue consumes one whole value (scalar, object or array) from dec.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := t.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

func kind(t json.Token) string {
	switch v := t.(type) {
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return "an array"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", t)
}
