package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testOptions: a tiny root file system and a "binary" (not an ELF: the
// library check is off), written into dir.
func testOptions(t *testing.T, dir string) options {
	t.Helper()
	root := filepath.Join(dir, "rootfs")
	must(t, os.MkdirAll(filepath.Join(root, "usr/local/bin"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "etc"), []byte("x"), 0o644))
	bin := filepath.Join(dir, "cephfs-csi")
	must(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	return options{
		rootfs:     root,
		rootfsTime: time.Unix(0, 0).UTC(),
		binary:     bin,
		binaryPath: "/usr/local/bin/cephfs-csi",
		tags:       []string{"quay.io/cephfs-csi/cephfs-csi:v1.0.0", "example.com/cephfs-csi:dev"},
		labels:     map[string]string{"org.opencontainers.image.version": "v1.0.0"},
		env:        []string{"PATH=/usr/bin:/bin"},
		created:    time.Unix(1700000000, 0).UTC(),
		out:        filepath.Join(dir, "image.tar"),
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	var archives [][]byte
	for range 2 {
		o := testOptions(t, t.TempDir())
		_, err := build(o)
		must(t, err)
		b, err := os.ReadFile(o.out)
		must(t, err)
		archives = append(archives, b)
		time.Sleep(1100 * time.Millisecond) // a second build, a second later
	}
	if !bytes.Equal(archives[0], archives[1]) {
		t.Fatal("two builds of the same inputs differ")
	}
}

func TestBuildConfig(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(t, dir)
	o.rootfsLayer = filepath.Join(dir, "base.tar.gz")
	sum, err := build(o)
	must(t, err)
	if sum.baseCached || len(sum.layers) != 2 {
		t.Fatalf("first build: cached %v, %d layers; want a new base layer and 2 layers", sum.baseCached, len(sum.layers))
	}
	tag, err := name.NewTag("example.com/cephfs-csi:dev")
	must(t, err)
	img, err := tarball.ImageFromPath(o.out, &tag)
	must(t, err)
	cf, err := img.ConfigFile()
	must(t, err)
	if cf.Architecture != "amd64" || cf.OS != "linux" || !cf.Created.Time.Equal(o.created) {
		t.Errorf("platform %s/%s created %v", cf.OS, cf.Architecture, cf.Created)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/usr/local/bin/cephfs-csi"}) || !slices.Equal(cf.Config.Env, o.env) {
		t.Errorf("entrypoint %v env %v", cf.Config.Entrypoint, cf.Config.Env)
	}
	if cf.Config.Labels["org.opencontainers.image.version"] != "v1.0.0" || len(cf.History) != 2 || len(cf.RootFS.DiffIDs) != 2 {
		t.Errorf("labels %v, %d history entries, %d diff IDs", cf.Config.Labels, len(cf.History), len(cf.RootFS.DiffIDs))
	}
	if cf.Config.Cmd != nil || cf.Config.StopSignal != "" {
		t.Errorf("cmd %v stop signal %q; want none unless asked", cf.Config.Cmd, cf.Config.StopSignal)
	}
	// The archive's config is the one built (the image ID docker shows).
	if got, err := img.ConfigName(); err != nil || got != sum.config {
		t.Errorf("config read back %s (%v), built %s", got, err, sum.config)
	}

	// A second build reuses the cached base layer: same image.
	first := sum
	must(t, os.WriteFile(filepath.Join(o.rootfs, "etc"), []byte("changed"), 0o644))
	sum, err = build(o)
	must(t, err)
	if !sum.baseCached || sum.manifest != first.manifest {
		t.Fatalf("second build: cached %v, manifest %s; want the cached base and %s", sum.baseCached, sum.manifest, first.manifest)
	}
	// A new binary changes only the second layer.
	must(t, os.WriteFile(o.binary, []byte("#!/bin/sh\nexit 0\n"), 0o755))
	sum, err = build(o)
	must(t, err)
	if sum.layers[0].digest != first.layers[0].digest || sum.layers[1].digest == first.layers[1].digest {
		t.Fatalf("a new binary: layers %s %s, before %s %s", sum.layers[0].digest, sum.layers[1].digest, first.layers[0].digest, first.layers[1].digest)
	}
}

func TestBuildChecksLibraries(t *testing.T) {
	o := testOptions(t, t.TempDir())
	o.checkLibs = true
	o.binary = "/bin/ls" // needs libc, which the tiny root lacks
	if _, err := os.Stat(o.binary); err != nil {
		t.Skip("no /bin/ls")
	}
	if _, err := build(o); err == nil {
		t.Fatal("an image whose binary lacks its libraries was written")
	}
	if _, err := os.Stat(o.out); err == nil {
		t.Fatal("the failed build left an archive")
	}
}

// TestBuildCommandAndStopSignal: the config carries -cmd, -stop-signal and
// the history entries given, as an image whose entrypoint is a script needs.
func TestBuildCommandAndStopSignal(t *testing.T) {
	o := testOptions(t, t.TempDir())
	o.binaryPath = "/usr/local/bin/entrypoint"
	o.cmd = []string{"postgres", "-c", "fsync=off"}
	o.stopSignal = "SIGINT"
	o.baseHistory, o.binaryHistory = "base recipe", "entrypoint script"
	_, err := build(o)
	must(t, err)
	tag, err := name.NewTag(o.tags[0])
	must(t, err)
	img, err := tarball.ImageFromPath(o.out, &tag)
	must(t, err)
	cf, err := img.ConfigFile()
	must(t, err)
	if !slices.Equal(cf.Config.Entrypoint, []string{o.binaryPath}) || !slices.Equal(cf.Config.Cmd, o.cmd) || cf.Config.StopSignal != "SIGINT" {
		t.Errorf("entrypoint %v cmd %v stop signal %q", cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.StopSignal)
	}
	if len(cf.History) != 2 || cf.History[0].CreatedBy != "base recipe" || cf.History[1].CreatedBy != "entrypoint script" {
		t.Errorf("history %+v", cf.History)
	}

	for _, bad := range []string{"INT", "sigint", "SIGINT; rm", "-9"} {
		o.stopSignal = bad
		o.out = filepath.Join(t.TempDir(), "bad.tar")
		if _, err := build(o); err == nil {
			t.Errorf("stop signal %q accepted", bad)
		}
	}
}
