package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The README's quickstart config: what it says validates, does.
	good := filepath.Join("..", "..", "examples", "gateway.yaml")
	bad := write("bad.yaml", `
replica_sets:
  kv:
    replicas:
      - {name: r1, url: "http://127.0.0.1:9101"}
routes:
  - name: kv-get
    match: /kv/{key}
    replica_set: kvv
    hedge: {percentil: 95}
`)
	missing := filepath.Join(dir, "missing.yaml")

	tests := []struct {
		name      string
		args      []string
		code      int
		stdout    string
		stderrHas string
	}{
		{"valid", []string{"-config", good}, 0, "config OK\n", ""},
		{"problems", []string{"-config", bad}, 1,
			bad + ":9: routes[0].replica_set: no replica set \"kvv\" (have: kv)\n" +
				bad + ":10: routes[0].hedge.percentil: unknown key \"percentil\" (did you mean \"percentile\"?)\n", ""},
		{"unreadable", []string{"-config", missing}, 1, missing + ": no such file or directory\n", ""},
		{"no config flag", nil, 2, "", "usage: gateway validate -config FILE"},
		{"stray argument", []string{"-config", good, "extra"}, 2, "", "usage: gateway validate"},
		{"unknown flag", []string{"-confg", good}, 2, "", "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"validate"}, tt.args...), &out, &errb)
			if code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, errb.String())
			}
			if out.String() != tt.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", out.String(), tt.stdout)
			}
			if tt.stderrHas == "" && errb.Len() > 0 {
				t.Errorf("unexpected stderr: %q", errb.String())
			}
			if !strings.Contains(errb.String(), tt.stderrHas) {
				t.Errorf("stderr %q does not contain %q", errb.String(), tt.stderrHas)
			}
		})
	}
}
