package quorum

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hedgegate/hedgegate/config"
)

func TestNewExtractorErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  config.Version
		want string
	}{
		{"both", config.Version{Header: "X-Version", JSONPointer: "/a"}, "not both"},
		{"bad header", config.Version{Header: "X Version"}, "not a valid header name"},
		{"pointer without slash", config.Version{JSONPointer: "a/b"}, "must start with /"},
		{"bad escape", config.Version{JSONPointer: "/a~2"}, "~ must be followed by 0 or 1"},
		{"trailing tilde", config.Version{JSONPointer: "/a~"}, "~ must be followed by 0 or 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewExtractor(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewExtractor(%+v) = %v, want error containing %q", tt.cfg, err, tt.want)
			}
		})
	}
}

func TestExtractHeader(t *testing.T) {
	e, err := NewExtractor(config.Version{Header: "x-version"})
	if err != nil {
		t.Fatal(err)
	}
	if e.NeedsBody() {
		t.Error("NeedsBody() = true for a header version; the winner's body could not stream")
	}
	tests := []struct {
		name    string
		h       http.Header
		want    string
		wantErr string
	}{
		{"present", http.Header{"X-Version": {"42"}}, "42", ""},
		{"trimmed", http.Header{"X-Version": {" 42 "}}, "42", ""},
		{"first of several", http.Header{"X-Version": {"7", "8"}}, "7", ""},
		{"etag kept verbatim", http.Header{"X-Version": {`W/"abc"`}}, `W/"abc"`, ""},
		{"huge", http.Header{"X-Version": {"123456789012345678901234567890"}}, "123456789012345678901234567890", ""},
		{"missing", http.Header{"Etag": {"1"}}, "", "no X-Version header"},
		{"empty", http.Header{"X-Version": {""}}, "", "empty X-Version header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := e.Extract(200, tt.h, nil)
			checkExtract(t, v, err, tt.want, tt.wantErr)
		})
	}
}

func TestExtractJSONPointer(t *testing.T) {
	const etcd = `{"header":{"revision":"99"},"kvs":[{"key":"Zm9v","mod_revision":"57","version":3}],"count":"1"}`
	const nested = `{"a":{"b":[10,{"c":[1,2,{"d":"deep"}]}]},"a/b":1,"m~n":2,"~1":3,"":4,"x y":5,
		"big":123456789012345678901234567890,"neg":-7,"f":1.5,"e":1e3,"s":"007","t":true,"n":null,"es":"",
		"obj":{},"arr":[],"dup":1,"dup":2,"uni\u00e9":"u"}`
	tests := []struct {
		name    string
		ptr     string
		body    string
		want    string
		wantErr string
	}{
		{"etcd mod_revision string", "/kvs/0/mod_revision", etcd, "57", ""},
		{"etcd number", "/kvs/0/version", etcd, "3", ""},
		{"etcd header revision", "/header/revision", etcd, "99", ""},
		{"etcd empty range", "/kvs/0/mod_revision", `{"header":{"revision":"5"}, "kvs": []}`, "",
			"json pointer /kvs/0/mod_revision: index 0 out of range (/kvs has 0 elements)"},
		{"etcd no kvs", "/kvs/0/mod_revision", `{"header":{"revision":"5"}}`, "",
			`json pointer /kvs/0/mod_revision: no key "kvs" in the document`},
		{"nested arrays and objects", "/a/b/1/c/2/d", nested, "deep", ""},
		{"array element", "/a/b/0", nested, "10", ""},
		{"escaped slash", "/a~1b", nested, "1", ""},
		{"escaped tilde", "/m~0n", nested, "2", ""},
		{"escape order ~01", "/~01", nested, "3", ""},
		{"empty key", "/", nested, "4", ""},
		{"space in key", "/x y", nested, "5", ""},
		{"unicode key", "/unié", nested, "u", ""},
		{"huge integer keeps its text", "/big", nested, "123456789012345678901234567890", ""},
		{"negative", "/neg", nested, "-7", ""},
		{"float literal", "/f", nested, "1.5", ""},
		{"exponent literal", "/e", nested, "1e3", ""},
		{"string keeps its text", "/s", nested, "007", ""},
		{"first duplicate wins", "/dup", nested, "1", ""},
		{"index past end", "/a/b/5", nested, "", "index 5 out of range (/a/b has 2 elements)"},
		{"dash index", "/a/b/-", nested, "", "index - out of range"},
		{"leading zero index", "/a/b/01", nested, "", `"01" is not an array index (/a/b is an array)`},
		{"key into array", "/a/b/x", nested, "", `"x" is not an array index`},
		{"missing key", "/a/zz", nested, "", `json pointer /a/zz: no key "zz" in /a`},
		{"through a scalar", "/neg/x", nested, "", "/neg is a number, not an object or array"},
		{"to object", "/obj", nested, "", "value is an object, not a number or string"},
		{"to array", "/arr", nested, "", "value is an array, not a number or string"},
		{"to bool", "/t", nested, "", "value is a boolean"},
		{"to null", "/n", nested, "", "value is null"},
		{"to empty string", "/es", nested, "", "value is an empty string"},
		{"not JSON", "/a", `<html>`, "", "json pointer /a: body is not JSON"},
		{"truncated", "/a", `{"a": 1`, "", "body is not JSON"},
		{"trailing garbage", "/a", `{"a": 1} x`, "", "body is not JSON"},
		{"empty body", "/a", ``, "", "body is empty"},
		{"top-level scalar", "/a", `5`, "", "the document is a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := NewExtractor(config.Version{JSONPointer: tt.ptr})
			if err != nil {
				t.Fatal(err)
			}
			if !e.NeedsBody() {
				t.Fatal("NeedsBody() = false for a json_pointer version")
			}
			v, err := e.Extract(200, nil, []byte(tt.body))
			checkExtract(t, v, err, tt.want, tt.wantErr)
		})
	}
}

func TestExtractHash(t *testing.T) {
	e, err := NewExtractor(config.Version{})
	if err != nil {
		t.Fatal(err)
	}
	if !e.NeedsBody() {
		t.Fatal("NeedsBody() = false for a body hash")
	}
	a, _ := e.Extract(200, nil, []byte("hello"))
	b, _ := e.Extract(200, http.Header{"X-Other": {"1"}}, []byte("hello"))
	c, _ := e.Extract(404, nil, []byte("hello"))
	d, _ := e.Extract(200, nil, []byte("hellp"))
	if !a.Equal(b) {
		t.Errorf("same status and body, different versions %s %s", a, b)
	}
	if a.Equal(c) || a.Equal(d) {
		t.Errorf("status or body change kept the version: %s %s %s", a, c, d)
	}
	if !strings.HasPrefix(a.Raw, "sha256:") || len(a.Raw) != len("sha256:")+32 || a.Numeric() {
		t.Errorf("hash version %q: want sha256: and 32 hex digits, opaque", a.Raw)
	}
}

func checkExtract(t *testing.T, v Version, err error, want, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("Extract = %q, %v; want error containing %q", v.Raw, err, wantErr)
		}
		if !errors.Is(err, ErrNoVersion) {
			t.Errorf("error %v does not match ErrNoVersion", err)
		}
		return
	}
	if err != nil || v.Raw != want {
		t.Fatalf("Extract = %q, %v; want %q", v.Raw, err, want)
	}
}

func TestMissingVersionForAbsentAnswers(t *testing.T) {
	ptr, err := NewExtractor(config.Version{JSONPointer: "/kvs/0/mod_revision", Missing: "0"})
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := NewExtractor(config.Version{Header: "X-Version", Missing: "0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		ex      *Extractor
		status  int
		body    string
		want    string
		wantErr string
	}{
		{"etcd absent key: no kvs", ptr, 200, `{"header":{"revision":"7"}}`, "0", ""},
		{"empty kvs", ptr, 200, `{"kvs":[]}`, "0", ""},
		{"present key keeps its version", ptr, 200, `{"kvs":[{"mod_revision":"5"}]}`, "5", ""},
		{"not JSON is still an error", ptr, 200, `<html>`, "", "not JSON"},
		{"a 500 without kvs is still an error", ptr, 500, `{"error":"x"}`, "", "no key"},
		{"no header on a 2xx", hdr, 204, ``, "0", ""},
		{"no header on a 404 is an error", hdr, 404, ``, "", "no X-Version header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.ex.Extract(tc.status, http.Header{}, []byte(tc.body))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v %v, want an error mentioning %q", v, err, tc.wantErr)
				}
				return
			}
			if err != nil || v.Raw != tc.want {
				t.Fatalf("got %q %v, want %q", v.Raw, err, tc.want)
			}
		})
	}
	if _, err := NewExtractor(config.Version{Missing: "0"}); err == nil {
		t.Error("missing without a header or pointer must be refused")
	}
}
