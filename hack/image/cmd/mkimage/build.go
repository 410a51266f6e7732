package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/cephfs-csi/cephfs-csi/hack/image/archive"
	"github.com/cephfs-csi/cephfs-csi/hack/image/layer"
	"github.com/cephfs-csi/cephfs-csi/hack/image/rootfs"
)

type options struct {
	rootfs, rootfsLayer string
	rootfsTime          time.Time
	binary, binaryPath  string
	tags                []string
	labels              map[string]string
	env, cmd            []string
	stopSignal          string
	// created_by of the two layers' history entries
	baseHistory, binaryHistory string
	created                    time.Time
	checkLibs                  bool
	out                        string
}

// stopSignal: the forms of StopSignal engines accept (SIGRTMIN+3 included).
var stopSignal = regexp.MustCompile(`^(SIG[A-Z0-9]+([+-][0-9]+)?|[0-9]+)$`)

// build writes the image tarball and says what it holds.
func build(o options) (summary, error) {
	var sum summary
	tags := make([]name.Tag, len(o.tags))
	for i, t := range o.tags {
		tag, err := name.NewTag(t, name.StrictValidation)
		if err != nil {
			return sum, fmt.Errorf("tag %q: %w", t, err)
		}
		tags[i] = tag
	}
	if o.stopSignal != "" && !stopSignal.MatchString(o.stopSignal) {
		return sum, fmt.Errorf("stop signal %q: want a name such as SIGINT or a number", o.stopSignal)
	}
	if o.checkLibs {
		missing, err := rootfs.MissingLibraries(o.rootfs, o.binary)
		if err != nil {
			return sum, fmt.Errorf("checking the libraries of %s: %w", o.binary, err)
		}
		if len(missing) > 0 {
			return sum, fmt.Errorf("%s lacks what %s needs: %s", o.rootfs, o.binary, strings.Join(missing, " "))
		}
	}
	work, err := os.MkdirTemp(filepath.Dir(o.out), ".mkimage-")
	if err != nil {
		return sum, fmt.Errorf("work directory: %w", err)
	}
	defer os.RemoveAll(work)

	baseFile := o.rootfsLayer
	if baseFile == "" {
		baseFile = filepath.Join(work, "base.tar.gz")
	}
	if _, err := os.Stat(baseFile); err == nil {
		sum.baseCached = true
	} else if err := writeLayer(baseFile, o.rootfsTime, func(w *layer.Writer) error { return w.AddTree(o.rootfs) }); err != nil {
		return sum, fmt.Errorf("base layer from %s: %w", o.rootfs, err)
	}
	binFile := filepath.Join(work, "binary.tar.gz")
	if err := writeLayer(binFile, o.created, func(w *layer.Writer) error { return w.AddFile(o.binaryPath, o.binary, 0o755) }); err != nil {
		return sum, fmt.Errorf("binary layer: %w", err)
	}

	img, err := assemble(o, baseFile, binFile)
	if err != nil {
		return sum, err
	}
	if err := writeArchive(o.out, img, tags); err != nil {
		return sum, err
	}
	return describe(img, o.out, sum)
}

// assemble: the image of the two layers, with OCI media types, and its
// config.
func assemble(o options, baseFile, binFile string) (v1.Image, error) {
	base, err := tarball.LayerFromFile(baseFile, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", baseFile, err)
	}
	bin, err := tarball.LayerFromFile(binFile, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", binFile, err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, MediaType: types.OCILayer, History: v1.History{
			Created: v1.Time{Time: o.rootfsTime}, CreatedBy: o.baseHistory,
		}},
		mutate.Addendum{Layer: bin, MediaType: types.OCILayer, History: v1.History{
			Created: v1.Time{Time: o.created}, CreatedBy: o.binaryHistory,
		}})
	if err != nil {
		return nil, fmt.Errorf("adding the layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: o.created}
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Config.Entrypoint = []string{o.binaryPath}
	cf.Config.Env = o.env
	cf.Config.Cmd = o.cmd
	cf.Config.StopSignal = o.stopSignal
	cf.Config.Labels = o.labels
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("setting the config: %w", err)
	}
	return img, nil
}

// writeArchive writes the tarball next to out and renames it into place, so
// that out is never a partial archive.
func writeArchive(out string, img v1.Image, tags []name.Tag) error {
	f, err := os.CreateTemp(filepath.Dir(out), ".mkimage-*.tar")
	if err != nil {
		return fmt.Errorf("creating the archive: %w", err)
	}
	defer os.Remove(f.Name())
	if err := archive.Write(f, img, tags); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return closeAndRename(f, out)
}

// closeAndRename syncs and closes f, makes it world-readable (CreateTemp
// makes 0600 files) and renames it to dst.
func closeAndRename(f *os.File, dst string) error {
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("chmod %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("renaming to %s: %w", dst, err)
	}
	return nil
}
