package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadtestJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-A") != "1" || r.Header.Get("X-B") != "two words" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(r.Body)
		if string(b) != "from file" {
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	body := filepath.Join(dir, "body")
	if err := os.WriteFile(body, []byte("from file"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "raw.csv")

	var stdout, stderr strings.Builder
	code := runLoadtest([]string{
		"-url", srv.URL + "/kv/{key}", "-keys", "10", "-key-dist", "zipf",
		"-method", "POST", "-body-file", body, "-header", "X-A: 1", "-header", "X-B: two words",
		"-rate", "100", "-duration", "200ms", "-json", "-q", "-out", out, "-name", "first",
	}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var m struct {
		Name     string           `json:"name"`
		Requests int64            `json:"requests"`
		OK       int64            `json:"ok"`
		Codes    map[string]int64 `json:"codes"`
		Latency  map[string]any   `json:"latency_ms"`
	}
	if err := json.Unmarshal([]byte(stdout.String()), &m); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
	}
	if m.Requests != 20 || m.OK != 20 || m.Codes["200"] != 20 || m.Name != "first" || m.Latency["p99"] == nil {
		t.Errorf("got %+v", m)
	}
	raw, err := os.ReadFile(out)
	if err != nil || strings.Count(string(raw), "\n") != 21 {
		t.Errorf("raw file: %v, %d lines", err, strings.Count(string(raw), "\n"))
	}

	// compare reads the JSON back, with an HTML overlay.
	a := filepath.Join(dir, "a.json")
	b := filepath.Join(dir, "b.json")
	os.WriteFile(a, []byte(stdout.String()), 0o600)
	os.WriteFile(b, []byte(strings.Replace(stdout.String(), `"name": "first"`, `"name": ""`, 1)), 0o600)
	html := filepath.Join(dir, "cmp.html")
	stdout.Reset()
	if code := runLoadtest([]string{"compare", "-html", html, a, b}, &stdout, &stderr); code != 0 {
		t.Fatalf("compare exit %d: %s", code, stderr.String())
	}
	if f := strings.Fields(strings.SplitN(stdout.String(), "\n", 2)[0]); len(f) != 3 || f[1] != "first" || f[2] != "b" {
		t.Errorf("compare header %q", f)
	}
	if h, err := os.ReadFile(html); err != nil || !strings.Contains(string(h), "<svg") {
		t.Errorf("compare html: %v", err)
	}
}

func TestLoadtestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-rate", "10"},
		{"-url", "http://127.0.0.1:1/", "-rate", "0"},
		{"-url", "http://127.0.0.1:1/", "-rate", "1", "-header", "novalue"},
		{"-url", "http://127.0.0.1:1/", "-rate", "1", "-body", "x", "-body-file", "y"},
		{"compare"},
	} {
		var stdout, stderr strings.Builder
		if code := runLoadtest(args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", args, code, stderr.String())
		}
	}
}

// A generator warning is printed once: in the text report, or on stderr beside
// -json (whose "warnings" field holds it as data).
func TestLoadtestWarningsPrintedOnce(t *testing.T) {
	// One connection to a server answering in 30ms cannot keep 100 req/s: the
	// "connections were busy" warning, whatever the machine's speed.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond)
	}))
	defer srv.Close()
	const warning = "connections were busy"
	args := []string{"-url", srv.URL, "-rate", "100", "-duration", "100ms", "-connections", "1", "-q"}
	for _, tc := range []struct {
		name               string
		extra              []string
		inStdout, inStderr int
	}{
		{"text", nil, 1, 0},
		{"json", []string{"-json"}, 1, 1}, // stdout: the JSON field
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			if code := runLoadtest(append(args, tc.extra...), &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if n, m := strings.Count(stdout.String(), warning), strings.Count(stderr.String(), warning); n != tc.inStdout || m != tc.inStderr {
				t.Errorf("warning %d times on stdout, %d on stderr; want %d and %d\nstdout:\n%s\nstderr:\n%s",
					n, m, tc.inStdout, tc.inStderr, stdout.String(), stderr.String())
			}
		})
	}
}
