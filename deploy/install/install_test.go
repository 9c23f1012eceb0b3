// Package install tests the ways users get the gateway binary: go install of a
// released version, and a build from a git checkout.
package install

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

const modulePath = "github.com/hedgegate/hedgegate"

// clone is a fresh clone of the repository at the commit checked out here: what a
// release tag or a user's git clone would hold (uncommitted changes are not in it).
func clone(t *testing.T) (dir, rev string) {
	t.Helper()
	rev = strings.TrimSpace(run(t, "../..", nil, "git", "rev-parse", "HEAD"))
	dir = filepath.Join(t.TempDir(), "hedgegate")
	run(t, "", nil, "git", "clone", "-q", "--no-checkout", "../..", dir)
	run(t, dir, nil, "git", "checkout", "-q", rev)
	return dir, rev
}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// go install github.com/hedgegate/hedgegate/cmd/gateway@VERSION, from a module proxy
// that serves the module zip the go command would make of a release tag. The zip
// holds only the module (deploy/ is a module of its own and is left out), so the
// install proves nothing outside the module is needed, and gateway version then
// names the release.
func TestGoInstallAtAVersion(t *testing.T) {
	src, _ := clone(t)
	const version = "v0.9.0-ci"
	proxy := t.TempDir()
	vdir := filepath.Join(proxy, modulePath, "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	if err := modzip.CreateFromVCS(&z, module.Version{Path: modulePath, Version: version}, src, "HEAD", ""); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(z.Bytes()), int64(z.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, modulePath+"@"+version+"/deploy/") {
			t.Fatalf("the module zip holds %s: deploy/ should be a module of its own", f.Name)
		}
	}
	mod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(mod), "module "+modulePath+"\n") {
		t.Fatalf("go.mod does not declare module %s", modulePath)
	}
	if strings.Contains(string(mod), "\nreplace") {
		t.Fatal("go.mod has a replace directive: go install pkg@version refuses it")
	}
	info, _ := json.Marshal(map[string]string{"Version": version, "Time": "2026-01-01T00:00:00Z"})
	for name, data := range map[string][]byte{
		"list": []byte(version + "\n"), version + ".info": info, version + ".mod": mod, version + ".zip": z.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(vdir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	cache := strings.TrimSpace(run(t, "", nil, "go", "env", "GOMODCACHE"))
	bin := t.TempDir()
	env := []string{
		// hedgegate from the test's proxy; its dependencies from the module cache's own
		// download directory (itself a proxy), else the real proxy, which also serves
		// the checksum database that verifies them.
		"GOPROXY=file://" + proxy + ",file://" + filepath.Join(cache, "cache", "download") + ",https://proxy.golang.org",
		"GOMODCACHE=" + filepath.Join(t.TempDir(), "modcache"),
		"GONOSUMDB=" + modulePath, // not in the checksum database: it is not published
		// -modcacherw: so t.TempDir can remove the fresh module cache; -trimpath: so the
		// build cache serves the dependencies compiled from another module cache.
		"GOFLAGS=-modcacherw -trimpath",
		"GOBIN=" + bin,
		"CGO_ENABLED=0",
	}
	run(t, t.TempDir(), env, "go", "install", modulePath+"/cmd/gateway@"+version)
	out := run(t, "", nil, filepath.Join(bin, "gateway"), "version")
	lines := strings.Split(out, "\n")
	if lines[0] != "hedgegate "+version {
		t.Errorf("gateway version after go install @%s:\n%s", version, out)
	}
	if !strings.Contains(out, "revision unknown") {
		t.Errorf("a module zip carries no VCS data, yet:\n%s", out)
	}
}

// Built in a git checkout, the binary names its commit.
func TestBuildInACheckoutNamesTheRevision(t *testing.T) {
	src, rev := clone(t)
	bin := filepath.Join(t.TempDir(), "gateway")
	// This machine's go env sets -buildvcs=false; a user's build stamps by default.
	// CGO_ENABLED=0 -trimpath as the image and go install above: one compile of the
	// dependencies serves all three.
	run(t, src, []string{"GOFLAGS=-buildvcs=true -trimpath", "CGO_ENABLED=0"}, "go", "build", "-o", bin, "./cmd/gateway")
	out := run(t, "", nil, bin, "version")
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "hedgegate v0.0.0-") || !strings.HasSuffix(lines[0], rev[:12]) {
		t.Errorf("first line %q: want the pseudo-version of %s", lines[0], rev)
	}
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "revision "+rev+" ") || strings.Contains(lines[1], "modified") {
		t.Errorf("second line %q: want revision %s, unmodified", lines[1], rev)
	}
}
