package main

import (
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// summary: what was written, for the build log and for comparing builds.
type summary struct {
	out          string
	size         int64
	baseCached   bool
	manifest     v1.Hash
	config       v1.Hash
	layers       []layerInfo
	uncompressed int64
}

type layerInfo struct {
	digest, diffID v1.Hash
	size, unpacked int64
}

func describe(img v1.Image, out string, sum summary) (summary, error) {
	var err error
	sum.out = out
	if sum.manifest, err = img.Digest(); err != nil {
		return sum, fmt.Errorf("manifest digest: %w", err)
	}
	if sum.config, err = img.ConfigName(); err != nil {
		return sum, fmt.Errorf("config digest: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return sum, fmt.Errorf("layers: %w", err)
	}
	for _, l := range layers {
		var li layerInfo
		if li.digest, err = l.Digest(); err != nil {
			return sum, fmt.Errorf("layer digest: %w", err)
		}
		if li.diffID, err = l.DiffID(); err != nil {
			return sum, fmt.Errorf("layer diff ID: %w", err)
		}
		if li.size, err = l.Size(); err != nil {
			return sum, fmt.Errorf("layer size: %w", err)
		}
		if li.unpacked, err = unpackedSize(l); err != nil {
			return sum, err
		}
		sum.uncompressed += li.unpacked
		sum.layers = append(sum.layers, li)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return sum, fmt.Errorf("stat %s: %w", out, err)
	}
	sum.size = fi.Size()
	return sum, nil
}

// unpackedSize: the length of the layer's uncompressed tar stream.
func unpackedSize(l v1.Layer) (int64, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return 0, fmt.Errorf("reading a layer: %w", err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if err != nil {
		return 0, fmt.Errorf("reading a layer: %w", err)
	}
	return n, nil
}

func (s summary) print(w io.Writer) {
	names := []string{"base (Debian + packages)", "driver binary"}
	for i, l := range s.layers {
		what := fmt.Sprintf("layer %d", i+1)
		if i < len(names) {
			what += " " + names[i]
		}
		if i == 0 && s.baseCached {
			what += ", cached"
		}
		fmt.Fprintf(w, "mkimage: %s: %s (%s compressed, %s unpacked; diff_id %s)\n",
			what, l.digest, mib(l.size), mib(l.unpacked), l.diffID)
	}
	// The config digest is the image ID that docker and podman show, and
	// survives loading; a loader writes a manifest of its own from the
	// archive, so the OCI manifest's digest is that of a push (e.g. crane).
	fmt.Fprintf(w, "mkimage: config (image ID) %s\n", s.config)
	fmt.Fprintf(w, "mkimage: OCI manifest %s\n", s.manifest)
	fmt.Fprintf(w, "mkimage: wrote %s (%s; %s unpacked)\n", s.out, mib(s.size), mib(s.uncompressed))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
