// Package archive writes an image as a docker-archive tarball (what `docker
// save` writes and `docker load`, `podman load`, `ctr images import` and
// `kind load image-archive` read): the config, the compressed layers and
// manifest.json.
//
// It is go-containerregistry's tarball.Write with one difference: the tags
// in manifest.json are sorted. tarball.MultiRefWrite collects them from a
// map, so an image with two tags gets them in a random order, and the
// tarball differs between two runs.
package archive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Write writes img, tagged with each of tags, to w.
func Write(w io.Writer, img v1.Image, tags []name.Tag) error {
	if len(tags) == 0 {
		return fmt.Errorf("no tag: docker load cannot name an image without one")
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("config digest: %w", err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	tw := tar.NewWriter(w)
	if err := writeEntry(tw, cfgName.String(), bytes.NewReader(cfg), int64(len(cfg))); err != nil {
		return err
	}
	files := make([]string, len(layers))
	seen := map[string]bool{}
	for i, l := range layers {
		if files[i], err = layerFile(l); err != nil {
			return err
		}
		if seen[files[i]] {
			continue
		}
		seen[files[i]] = true
		if err := writeLayer(tw, files[i], l); err != nil {
			return err
		}
	}
	m, err := json.Marshal(tarball.Manifest{{
		Config:   cfgName.String(),
		RepoTags: repoTags(tags),
		Layers:   files,
	}})
	if err != nil {
		return fmt.Errorf("encoding manifest.json: %w", err)
	}
	if err := writeEntry(tw, "manifest.json", bytes.NewReader(m), int64(len(m))); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("closing the archive: %w", err)
	}
	return nil
}

// repoTags: the tags as tarball.Write spells them (":latest" spelt out,
// which old docker versions need), sorted, without duplicates.
func repoTags(tags []name.Tag) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		s := t.String()
		if t.Identifier() == name.DefaultTag && !strings.HasSuffix(s, ":"+name.DefaultTag) {
			s += ":" + name.DefaultTag
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// layerFile: the layer's file name in the archive, as tarball.Write names it.
func layerFile(l v1.Layer) (string, error) {
	d, err := l.Digest()
	if err != nil {
		return "", fmt.Errorf("layer digest: %w", err)
	}
	mt, err := l.MediaType()
	if err != nil {
		return "", fmt.Errorf("media type of layer %s: %w", d, err)
	}
	switch {
	case strings.HasSuffix(string(mt), "gzip"):
		return d.Hex + ".tar.gz", nil
	case strings.HasSuffix(string(mt), "zstd"):
		return d.Hex + ".tar.zst", nil
	}
	return d.Hex + ".tar", nil
}

func writeLayer(tw *tar.Writer, file string, l v1.Layer) error {
	size, err := l.Size()
	if err != nil {
		return fmt.Errorf("size of %s: %w", file, err)
	}
	r, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("reading %s: %w", file, err)
	}
	defer r.Close()
	return writeEntry(tw, file, r, size)
}

// writeEntry writes one file with the header tarball.Write uses: mode 0644,
// no owner, no time (written as 0).
func writeEntry(tw *tar.Writer, file string, r io.Reader, size int64) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: file, Mode: 0o644, Size: size}); err != nil {
		return fmt.Errorf("writing the header of %s: %w", file, err)
	}
	n, err := io.Copy(tw, r)
	if err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	if n != size {
		return fmt.Errorf("%s: wrote %d bytes, expected %d", file, n, size)
	}
	return nil
}
