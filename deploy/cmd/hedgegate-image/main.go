// Command hedgegate-image builds hedgegate's container image without a docker
// daemon, as an OCI archive, or stages a docker build context for the same image.
//
//	cd deploy && go run ./cmd/hedgegate-image -out hedgegate.oci.tar
//	cd deploy && go run ./cmd/hedgegate-image -context /tmp/ctx && docker build -t hedgegate /tmp/ctx
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/hedgegate/hedgegate/deploy/image"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "hedgegate-image:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("out", "", "write the image as an OCI archive to this file")
	context := flag.String("context", "", "write a docker build context (Dockerfile, rootfs/) to this directory")
	binary := flag.String("binary", "", "a static gateway binary; empty: build one from -repo")
	repo := flag.String("repo", "..", "the hedgegate repository (when building the binary)")
	arch := flag.String("arch", runtime.GOARCH, "the image's architecture (GOARCH)")
	ref := flag.String("ref", "hedgegate:dev", "the image's name in the archive")
	ca := flag.String("ca-bundle", "/etc/ssl/certs/ca-certificates.crt", `CA certificates to put in the image ("": none)`)
	flag.Parse()
	if *out == "" && *context == "" {
		return fmt.Errorf("nothing to do: give -out FILE, -context DIR or both")
	}
	if *binary == "" {
		dir, err := os.MkdirTemp("", "hedgegate-image-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*binary = filepath.Join(dir, "gateway")
		if err := image.BuildBinary(*repo, *arch, *binary); err != nil {
			return err
		}
	}
	tree, err := image.Stage(*binary, *ca)
	if err != nil {
		return err
	}
	if *context != "" {
		if err := tree.WriteContext(*context); err != nil {
			return err
		}
		fmt.Printf("build context: %s (docker build -t %s %s)\n", *context, *ref, *context)
	}
	if *out != "" {
		img, err := tree.Image(*arch, created())
		if err != nil {
			return err
		}
		if err := image.WriteOCIArchive(img, *ref, *out); err != nil {
			return err
		}
		digest, err := img.Digest()
		if err != nil {
			return err
		}
		fmt.Printf("image %s %s: %s\n", *ref, digest, *out)
	}
	return nil
}

// created is SOURCE_DATE_EPOCH when set (reproducible-builds.org), else the Unix
// epoch: an image's digest then depends on its files alone.
func created() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Unix(0, 0).UTC()
}
