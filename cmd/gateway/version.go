package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// version, when set at link time (-ldflags "-X main.version=v1.2.3"), replaces the
// module version from the build info: for packagers whose builds carry none.
var version string

func runVersion(stdout io.Writer) int {
	info, _ := debug.ReadBuildInfo() // nil when the binary carries none
	fmt.Fprint(stdout, versionText(version, info))
	return 0
}

// versionText says which build this is, from what the go command stamped into the
// binary: the module version ("go install …@v1.2.3" gives v1.2.3; a build in a git
// checkout gives a pseudo-version) and, when built from a checkout, the commit.
func versionText(override string, info *debug.BuildInfo) string {
	var b strings.Builder
	v := override
	if v == "" && info != nil {
		v = info.Main.Version
	}
	if v == "" {
		v = "(unknown: built without module information)"
	}
	fmt.Fprintf(&b, "hedgegate %s\n", v)
	if info == nil {
		fmt.Fprintf(&b, "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return b.String()
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		fmt.Fprintf(&b, "revision %s", rev)
		if t := settings["vcs.time"]; t != "" {
			fmt.Fprintf(&b, " %s", t)
		}
		if settings["vcs.modified"] == "true" {
			b.WriteString(" (modified)")
		}
		b.WriteString("\n")
	} else {
		// go install …@version builds from the module zip, which has no VCS data;
		// the module version above names the release.
		b.WriteString("revision unknown (not built from a git checkout, or built with -buildvcs=false)\n")
	}
	goos, goarch := settings["GOOS"], settings["GOARCH"]
	if goos == "" {
		goos, goarch = runtime.GOOS, runtime.GOARCH
	}
	fmt.Fprintf(&b, "%s %s/%s\n", info.GoVersion, goos, goarch)
	return b.String()
}
