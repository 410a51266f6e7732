package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cephfs-csi/cephfs-csi/hack/image/layer"
)

// writeLayer writes a gzip-compressed layer to file (through a temporary
// file and a rename, so that a cached layer is never partial). The gzip
// header has no name and no time, so the bytes depend on the content only.
func writeLayer(file string, modTime time.Time, fill func(*layer.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(file), ".layer-*.tar.gz")
	if err != nil {
		return fmt.Errorf("creating the layer: %w", err)
	}
	defer os.Remove(f.Name())
	buf := bufio.NewWriterSize(f, 1<<20)
	gz, err := gzip.NewWriterLevel(buf, gzip.DefaultCompression)
	if err != nil {
		f.Close()
		return fmt.Errorf("gzip: %w", err)
	}
	lw := layer.NewWriter(gz, modTime)
	err = fill(lw)
	if err == nil {
		err = lw.Close()
	}
	if err == nil {
		err = gz.Close()
	}
	if err == nil {
		err = buf.Flush()
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return closeAndRename(f, file)
}
