// Package image builds hedgegate's container image without a docker daemon: one
// layer holding the static gateway binary, rootfs/ (passwd, group, the default
// config) and a CA bundle, with the config Dockerfile declares. The same staged
// tree can be written out as a docker build context, so both ways give the same files.
package image

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

//go:embed Dockerfile rootfs
var embedded embed.FS

// What the image declares; Dockerfile says the same (image_test.go checks it).
const (
	// User is numeric so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
	User       = "65532:65532"
	BinaryPath = "/usr/local/bin/gateway"
	ConfigPath = "/etc/hedgegate/gateway.yaml"
	// CABundlePath is where Go's crypto/x509 looks first on linux.
	CABundlePath = "/etc/ssl/certs/ca-certificates.crt"
)

var (
	Entrypoint   = []string{BinaryPath}
	Cmd          = []string{"serve", "-config", ConfigPath}
	ExposedPorts = []string{"8080/tcp", "9901/tcp"}
	// Labels are the static ones; Image adds version and revision from the binary.
	Labels = map[string]string{
		"org.opencontainers.image.title":    "hedgegate",
		"org.opencontainers.image.source":   "https://github.com/hedgegate/hedgegate",
		"org.opencontainers.image.licenses": "Apache-2.0",
	}
)

// File is one regular file of the image, at an absolute path.
type File struct {
	Path string
	Mode fs.FileMode
	Data []byte
}

// Tree is the image's whole filesystem; parent directories are implied.
type Tree struct {
	Files []File
	// Binary is the gateway's build info, for the image's labels.
	Binary *buildinfo.BuildInfo
}

// Stage gathers the image's files: the binary (which must be static: a scratch
// image has no dynamic loader), rootfs/, and caBundle unless it is "" (an image
// without one cannot verify replicas' https certificates).
func Stage(binary, caBundle string) (*Tree, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	if err := checkStatic(binary); err != nil {
		return nil, err
	}
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("%s: no Go build info: %w", binary, err)
	}
	t := &Tree{Binary: info, Files: []File{{Path: BinaryPath, Mode: 0o755, Data: bin}}}
	err = fs.WalkDir(embedded, "rootfs", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := embedded.ReadFile(p)
		t.Files = append(t.Files, File{Path: strings.TrimPrefix(p, "rootfs"), Mode: 0o644, Data: data})
		return err
	})
	if err != nil {
		return nil, err
	}
	if caBundle != "" {
		ca, err := os.ReadFile(caBundle)
		if err != nil {
			return nil, fmt.Errorf("CA bundle: %w (pass -ca-bundle \"\" to build an image without one)", err)
		}
		t.Files = append(t.Files, File{Path: CABundlePath, Mode: 0o644, Data: ca})
	}
	sort.Slice(t.Files, func(i, j int) bool { return t.Files[i].Path < t.Files[j].Path })
	return t, nil
}

// WriteContext writes a docker build context: Dockerfile and rootfs/ holding the tree.
func (t *Tree) WriteContext(dir string) error {
	dockerfile, err := embedded.ReadFile("Dockerfile")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), dockerfile, 0o644); err != nil {
		return err
	}
	for _, f := range t.Files {
		p := filepath.Join(dir, "rootfs", filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.Mode); err != nil { // WriteFile's mode is masked by umask
			return err
		}
	}
	return nil
}

// Image builds the OCI image: one layer, the declared config, labels naming the
// binary's module version and revision, and created at the given time (a fixed time
// makes the digest reproducible).
func (t *Tree) Image(arch string, created time.Time) (v1.Image, error) {
	layerTar, err := t.layerTar(created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching) // compress once, not per read
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: created}, CreatedBy: "hedgegate-image: gateway binary, rootfs/, CA bundle",
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", arch, v1.Time{Time: created}
	cf.Config = t.config()
	return mutate.ConfigFile(img, cf)
}

func (t *Tree) config() v1.Config {
	labels := map[string]string{}
	for k, v := range Labels {
		labels[k] = v
	}
	if t.Binary != nil {
		if v := t.Binary.Main.Version; v != "" && v != "(devel)" {
			labels["org.opencontainers.image.version"] = v
		}
		for _, s := range t.Binary.Settings {
			if s.Key == "vcs.revision" {
				labels["org.opencontainers.image.revision"] = s.Value
			}
		}
	}
	ports := map[string]struct{}{}
	for _, p := range ExposedPorts {
		ports[p] = struct{}{}
	}
	return v1.Config{
		User:         User,
		Entrypoint:   Entrypoint,
		Cmd:          Cmd,
		ExposedPorts: ports,
		Labels:       labels,
	}
}

// layerTar is the tree as a tar, root-owned, in path order, directories first.
func (t *Tree) layerTar(mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range t.Files {
		var parents []string
		for d := path.Dir(f.Path); d != "/" && !dirs[d]; d = path.Dir(d) {
			parents = append(parents, d)
			dirs[d] = true
		}
		for i := len(parents) - 1; i >= 0; i-- {
			hdr := &tar.Header{Typeflag: tar.TypeDir, Name: parents[i][1:] + "/", Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}
			if err := tw.WriteHeader(hdr); err != nil {
				return nil, err
			}
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.Path[1:], Mode: int64(f.Mode.Perm()), Size: int64(len(f.Data)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// errNotStatic is a binary that needs a dynamic loader, which a scratch image lacks.
var errNotStatic = errors.New("binary is dynamically linked (build it with CGO_ENABLED=0)")
