package image

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

var (
	buildOnce sync.Once
	binPath   string
	binErr    error

	imageOnce sync.Once
	shared    *Tree
	sharedImg v1.Image
	imageErr  error
)

// sharedImage is the image most tests look at, built once: compressing an 18 MB
// layer is the slow part of this package's tests.
func sharedImage(t *testing.T) (*Tree, v1.Image) {
	t.Helper()
	bin := gatewayBinary(t)
	imageOnce.Do(func() {
		shared, imageErr = Stage(bin, "/etc/ssl/certs/ca-certificates.crt")
		if imageErr == nil {
			sharedImg, imageErr = shared.Image("amd64", time.Unix(0, 0))
		}
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return shared, sharedImg
}

// gatewayBinary builds the static gateway once for every test of the package.
func gatewayBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hedgegate-image-test-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "gateway")
		binErr = BuildBinary("../..", "amd64", binPath)
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// The real test of the image: write it as an OCI archive, read it back as any
// runtime would, unpack its layers into a root, and run its entrypoint and command
// chrooted there as the image's user, in front of simulated replicas on loopback.
func TestImageServesAsItsNonRootUserFromItsOwnFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test chroots and changes user, which needs root (CI runs as root)")
	}
	_, img := sharedImage(t)
	archive := filepath.Join(t.TempDir(), "hedgegate.oci.tar")
	if err := WriteOCIArchive(img, "hedgegate:test", archive); err != nil {
		t.Fatal(err)
	}
	img = readOCIArchive(t, archive, "hedgegate:test")
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := numericUser(t, cf.Config.User)
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	configPath := flagValue(cf.Config.Cmd, "-config")
	if len(cf.Config.Entrypoint) != 1 || configPath == "" {
		t.Fatalf("entrypoint %q cmd %q: want the binary, then serve -config PATH", cf.Config.Entrypoint, cf.Config.Cmd)
	}

	root := filepath.Join(t.TempDir(), "root")
	unpack(t, mutate.Extract(img), root)
	for _, want := range []string{cf.Config.Entrypoint[0], configPath, CABundlePath, "/etc/passwd"} {
		if _, err := os.Stat(filepath.Join(root, want)); err != nil {
			t.Errorf("image lacks %s: %v", want, err)
		}
	}
	if passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); !strings.Contains(string(passwd), fmt.Sprintf(":%d:%d:", uid, gid)) {
		t.Errorf("/etc/passwd names no user %d:%d:\n%s", uid, gid, passwd)
	}
	before := listFiles(t, root)

	inImage := func(args ...string) *exec.Cmd {
		cmd := &exec.Cmd{Path: cf.Config.Entrypoint[0], Args: args, Env: cf.Config.Env, Dir: "/"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		return cmd
	}
	// The image's default config is valid as shipped, and readable by its user.
	if out, err := inImage(append(cf.Config.Entrypoint, "validate", "-config", configPath)...).CombinedOutput(); err != nil ||
		strings.TrimSpace(string(out)) != "config OK" {
		t.Fatalf("the image's default config: %v: %s", err, out)
	}

	replicas := startSim(t, filepath.Join(root, cf.Config.Entrypoint[0]))
	listen, admin := freePort(t), freePort(t)
	// Mounted over the default, as the Kubernetes ConfigMap is.
	writeConfig(t, filepath.Join(root, configPath), listen, admin, replicas)
	gw := inImage(append(cf.Config.Entrypoint, cf.Config.Cmd...)...)
	var logs strings.Builder
	gw.Stdout, gw.Stderr = &logs, &logs
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- gw.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			gw.Process.Kill()
			<-exited
		}
	}()

	waitReady(t, "http://"+admin+"/readyz", exited, &logs)
	if got := procUID(t, gw.Process.Pid); got != strconv.Itoa(int(uid)) {
		t.Errorf("the gateway runs as uid %s, want %d", got, uid)
	}
	resp, err := http.Get("http://" + listen + "/kv/hello")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Hedgegate-Replica") == "" {
		t.Errorf("GET /kv/hello through the image: %d, replica %q", resp.StatusCode, resp.Header.Get("X-Hedgegate-Replica"))
	}

	gw.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after SIGTERM\n%s", logs.String())
	}
	// The user owns nothing in the image, so it wrote nothing: the root was read-only
	// to it, as readOnlyRootFilesystem makes it in Kubernetes.
	if after := listFiles(t, root); !slices.Equal(before, after) {
		t.Errorf("files changed while the gateway ran:\nbefore %q\nafter  %q", before, after)
	}
}

// The Dockerfile is not built here (no docker daemon): it must declare exactly the
// config the Go builder writes, and copy the same tree.
func TestDockerfileDeclaresWhatTheBuilderWrites(t *testing.T) {
	src, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	got := parseDockerfile(t, string(src))
	want := map[string]string{
		"FROM":       "scratch",
		"COPY":       "rootfs/ /",
		"USER":       User,
		"EXPOSE":     strings.Join(ExposedPorts, " "),
		"ENTRYPOINT": jsonString(t, Entrypoint),
		"CMD":        jsonString(t, Cmd),
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("Dockerfile %s %q, the builder writes %q", k, got[k], w)
		}
	}
	labels := map[string]string{}
	for _, kv := range splitLabels(got["LABEL"]) {
		k, v, _ := strings.Cut(kv, "=")
		labels[k] = strings.Trim(v, `"`)
	}
	if !mapsEqual(labels, Labels) {
		t.Errorf("Dockerfile labels %v, the builder writes %v", labels, Labels)
	}
	for k := range got {
		if _, known := want[k]; !known && k != "LABEL" {
			t.Errorf("Dockerfile has %s, which the builder does not mirror", k)
		}
	}
}

// A docker build of the staged context gets the very files the OCI layer holds.
func TestContextHoldsTheLayersFiles(t *testing.T) {
	tree, img := sharedImage(t)
	ctx := t.TempDir()
	if err := tree.WriteContext(ctx); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "root")
	unpack(t, mutate.Extract(img), root)
	fromLayer, fromContext := listFiles(t, root), listFiles(t, filepath.Join(ctx, "rootfs"))
	if !slices.Equal(fromLayer, fromContext) {
		t.Errorf("layer %q\ncontext %q", fromLayer, fromContext)
	}
	if _, err := os.Stat(filepath.Join(ctx, "Dockerfile")); err != nil {
		t.Error(err)
	}
}

// Same binary, same time: same digest, so a rebuild of a release can be checked.
func TestImageDigestIsReproducible(t *testing.T) {
	_, first := sharedImage(t)
	tree, err := Stage(gatewayBinary(t), "/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatal(err)
	}
	again, err := tree.Image("amd64", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	d1, err1 := first.Digest()
	d2, err2 := again.Digest()
	if err1 != nil || err2 != nil || d1 != d2 {
		t.Errorf("two builds of one binary: %s and %s (%v, %v)", d1, d2, err1, err2)
	}
}

func TestStageRefusesADynamicBinary(t *testing.T) {
	_, err := Stage("/bin/true", "")
	if !errors.Is(err, errNotStatic) {
		t.Errorf("/bin/true (dynamically linked): %v, want errNotStatic", err)
	}
	if _, err := Stage(gatewayBinary(t), filepath.Join(t.TempDir(), "missing.crt")); err == nil ||
		!strings.Contains(err.Error(), "-ca-bundle") {
		t.Errorf("a missing CA bundle: %v, want an error naming -ca-bundle", err)
	}
}

func readOCIArchive(t *testing.T, archive, ref string) v1.Image {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	unpack(t, f, dir)
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != ref {
		t.Fatalf("index %+v: want one image named %s", im.Manifests, ref)
	}
	img, err := ii.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// unpack extracts a tar of directories and regular files under dir, refusing any
// name that would land outside it.
func unpack(t *testing.T, r io.Reader, dir string) {
	t.Helper()
	if rc, ok := r.(io.Closer); ok {
		defer rc.Close()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Clean(hdr.Name)
		if !filepath.IsLocal(name) {
			t.Fatalf("tar entry %q leaves the root", hdr.Name)
		}
		p := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, fs.FileMode(hdr.Mode).Perm()); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fs.FileMode(hdr.Mode).Perm())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
		default:
			t.Fatalf("tar entry %q: type %c, the image should hold only files and directories", hdr.Name, hdr.Typeflag)
		}
	}
}

// listFiles is every path under dir with its mode and owner, sorted.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fmt.Sprintf("%s %v %d:%d", rel, info.Mode(), st.Uid, st.Gid))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func numericUser(t *testing.T, user string) (uint32, uint32) {
	t.Helper()
	u, g, ok := strings.Cut(user, ":")
	uid, err1 := strconv.ParseUint(u, 10, 32)
	gid, err2 := strconv.ParseUint(g, 10, 32)
	if !ok || err1 != nil || err2 != nil || uid == 0 || gid == 0 {
		t.Fatalf("image user %q: want numeric non-root uid:gid (runAsNonRoot checks the number)", user)
	}
	return uint32(uid), uint32(gid)
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// startSim runs three simulated replicas on free loopback ports; r3 has a tail.
func startSim(t *testing.T, binary string) []string {
	t.Helper()
	cmd := exec.Command(binary, "sim", "-base-port", "0", "-replica", "r3=tail=0.1:20ms")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	urls := make(chan []string, 1)
	go func() {
		var found []string
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) > 2 && f[2] == "control" {
				found = append(found, f[1])
			}
			if len(found) == 3 {
				urls <- found
				break
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case u := <-urls:
		return u
	case <-time.After(20 * time.Second):
		t.Fatal("gateway sim printed no three replicas in 20s")
		return nil
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func writeConfig(t *testing.T, path, listen, admin string, replicas []string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\nadmin_listen: %s\nreplica_sets:\n  kv:\n    warm_connections: 1\n    replicas:\n", listen, admin)
	for i, u := range replicas {
		fmt.Fprintf(&b, "      - {name: r%d, url: %q}\n", i+1, u)
	}
	b.WriteString("routes:\n  - {name: kv-get, match: \"/kv/{key}\", replica_set: kv, strategy: hedge}\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitReady polls readyz for at most 20s, failing at once if the process exits.
func waitReady(t *testing.T, url string, exited <-chan error, logs *strings.Builder) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	for range 200 {
		select {
		case err := <-exited:
			t.Fatalf("the gateway exited: %v\n%s", err, logs.String())
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			var body struct{ Ready bool }
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode == 200 && body.Ready {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not 200 within 20s\n%s", url, logs.String())
}

func procUID(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(rest)
			if len(f) == 4 && f[0] == f[1] && f[1] == f[2] && f[2] == f[3] {
				return f[0] // real, effective, saved and filesystem uid agree
			}
			return rest
		}
	}
	return ""
}

// parseDockerfile maps each instruction to its arguments, continuations joined.
func parseDockerfile(t *testing.T, src string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		instr, args, _ := strings.Cut(cur.String(), " ")
		if _, dup := out[strings.ToUpper(instr)]; dup {
			t.Errorf("Dockerfile has %s twice", instr)
		}
		out[strings.ToUpper(instr)] = strings.Join(strings.Fields(args), " ")
		cur.Reset()
	}
	return out
}

// splitLabels splits `k="v w" k2="v2"` on the spaces outside quotes.
func splitLabels(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ' ' && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func jsonString(t *testing.T, v []string) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), `","`, `", "`)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
