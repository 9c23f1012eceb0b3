package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionTextFromBuildInfo(t *testing.T) {
	setting := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		override string
		info     *debug.BuildInfo
		want     []string // lines, in order
	}{{
		name: "go install at a release: version, no VCS data in a module zip",
		info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"},
			Settings: setting("GOOS", "linux", "GOARCH", "arm64")},
		want: []string{"hedgegate v1.2.3", "revision unknown (not built from a git checkout, or built with -buildvcs=false)", "go1.26.8 linux/arm64"},
	}, {
		name: "built in a modified git checkout",
		info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261123000542-916583af2f6a+dirty"},
			Settings: setting("vcs", "git", "vcs.revision", "916583af2f6a1e773d3a90b295f6b65f6ac3d27f",
				"vcs.time", "2026-11-23T00:05:42Z", "vcs.modified", "true", "GOOS", "linux", "GOARCH", "amd64")},
		want: []string{"hedgegate v0.0.0-20261123000542-916583af2f6a+dirty",
			"revision 916583af2f6a1e773d3a90b295f6b65f6ac3d27f 2026-11-23T00:05:42Z (modified)", "go1.26.8 linux/amd64"},
	}, {
		name: "clean checkout says nothing of modification",
		info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.0.0"},
			Settings: setting("vcs.revision", "abc", "vcs.modified", "false", "GOOS", "linux", "GOARCH", "amd64")},
		want: []string{"hedgegate v1.0.0", "revision abc", "go1.26.8 linux/amd64"},
	}, {
		name:     "a link-time version replaces the module's",
		override: "v9.9.9-debian1",
		info:     &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: setting("GOOS", "linux", "GOARCH", "amd64")},
		want:     []string{"hedgegate v9.9.9-debian1", "revision unknown (not built from a git checkout, or built with -buildvcs=false)", "go1.26.8 linux/amd64"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Split(strings.TrimSuffix(versionText(tc.override, tc.info), "\n"), "\n")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	if got := versionText("", nil); !strings.HasPrefix(got, "hedgegate (unknown: built without module information)\n") {
		t.Errorf("without build info: %q", got)
	}
}

// The command reads the test binary's own build info: whatever it holds, the answer is
// never the placeholder the first wave printed.
func TestVersionCommandUsesBuildInfo(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("test binary has no build info")
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	if first != "hedgegate "+info.Main.Version || first == "hedgegate dev" {
		t.Errorf("first line %q, want %q", first, "hedgegate "+info.Main.Version)
	}
	if !strings.Contains(out.String(), info.GoVersion) {
		t.Errorf("%q lacks the Go version %s", out.String(), info.GoVersion)
	}
}
