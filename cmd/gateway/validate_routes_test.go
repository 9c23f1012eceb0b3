package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// validate compiles the routes as serve does: a pattern chi cannot compile and two
// routes chi cannot tell apart are problems with their lines, not "config OK".
func TestValidateCompilesRoutesAsServeDoes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routes.yaml")
	os.WriteFile(path, []byte(`replica_sets:
  a: {replicas: [{name: r1, url: "http://127.0.0.1:9101"}]}
  b: {replicas: [{name: r2, url: "http://127.0.0.1:9102"}]}
routes:
  - {name: bad, match: "/kv/{key:[a-}", replica_set: a}
  - {name: twice, match: "/kv/{key}/{key}", replica_set: a}
  - {name: by-key, match: "/v/{key}", replica_set: a}
  - {name: by-id, match: "/v/{id}", replica_set: b}
`), 0o600)
	var out, errb bytes.Buffer
	code := run([]string{"validate", "-config", path}, &out, &errb)
	want := path + `:5: routes[0].match: "/kv/{key:[a-}": the router refuses it: invalid regexp pattern '^[a-$' in route param` + "\n" +
		path + `:6: routes[1].match: "/kv/{key}/{key}": the router refuses it: routing pattern '/kv/{key}/{key}' contains duplicate param key, 'key'` + "\n" +
		path + `:8: routes[3].match: "/v/{id}" routes the same requests as routes[2].match "/v/{key}" (line 7), which already serves GET: one of the two would never serve` + "\n"
	if code != 1 || out.String() != want || errb.Len() > 0 {
		t.Errorf("exit %d, stdout:\n%s\nwant:\n%s\nstderr: %s", code, out.String(), want, errb.String())
	}
}
