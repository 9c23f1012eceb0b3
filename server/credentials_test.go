package server

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A replica URL with credentials: every attempt carries them as basic auth, in place
// of the client's Authorization, and neither /debug/config nor the logs show the
// password.
func TestReplicaURLCredentialsAreSentAndRedacted(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	withCreds := strings.Replace(r1.srv.URL, "http://", "http://gw:s3cret@", 1)
	var logs bytes.Buffer
	yaml := gatewayYAML([]string{withCreds}, "")
	g := newGateway(t, yaml)
	g.srv.log = slog.New(slog.NewTextHandler(&logs, nil))

	for _, clientAuth := range []string{"", "Basic Y2xpZW50OnBhc3M="} {
		h := http.Header{}
		if clientAuth != "" {
			h.Set("Authorization", clientAuth)
		}
		if resp, _ := g.do(t, "GET", "/kv/a", nil, h); resp.StatusCode != 200 {
			t.Fatalf("GET = %d", resp.StatusCode)
		}
		got := r1.lastReq.Load()
		user, pass, ok := got.BasicAuth()
		if !ok || user != "gw" || pass != "s3cret" {
			t.Errorf("client Authorization %q: replica got %q, want the URL's credentials", clientAuth, got.Header.Get("Authorization"))
		}
	}

	resp, err := http.Get(g.admin.URL + "/debug/config")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), "s3cret") || !strings.Contains(string(b), "gw:xxxxx@") {
		t.Errorf("/debug/config shows the password or no redacted URL:\n%s", b)
	}
	// A refused reload logs its problems; a bad URL's problem shows it redacted.
	bad := strings.Replace(yaml, withCreds, "ftp://gw:s3cret@127.0.0.1:1", 1)
	if err := reloadFrom(t, g.srv, bad); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("reload error %v: want a refusal without the password", err)
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Errorf("logs show the password:\n%s", logs.String())
	}
}

// reloadFrom reloads s from a file holding yaml.
func reloadFrom(t *testing.T, s *Server, yaml string) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "reload.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return s.Reload(path)
}
