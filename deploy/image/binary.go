package image

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildBinary builds the gateway from the repository at repo as a static linux
// binary: CGO_ENABLED=0 (no libc to load in a scratch image), -trimpath (no build
// host paths in the binary). The environment's GOFLAGS (say -buildvcs) still apply.
func BuildBinary(repo, goarch, out string) error {
	mod, err := os.ReadFile(filepath.Join(repo, "go.mod"))
	if err != nil {
		return fmt.Errorf("gateway repository: %w", err)
	}
	if !strings.HasPrefix(string(mod), "module github.com/hedgegate/hedgegate\n") {
		return fmt.Errorf("%s is not hedgegate's module root", repo)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./cmd/gateway")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, b)
	}
	return nil
}

// checkStatic refuses an ELF binary that names a dynamic loader or shared libraries.
func checkStatic(binary string) error {
	f, err := elf.Open(binary)
	if err != nil {
		return fmt.Errorf("%s: %w", binary, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s: %w", binary, errNotStatic)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("%s: %w", binary, err)
	}
	if len(libs) > 0 {
		return fmt.Errorf("%s: %w: needs %s", binary, errNotStatic, strings.Join(libs, ", "))
	}
	return nil
}
