package archive

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func tags(t *testing.T, refs ...string) []name.Tag {
	t.Helper()
	var out []name.Tag
	for _, r := range refs {
		tag, err := name.NewTag(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tag)
	}
	return out
}

func write(t *testing.T, img v1.Image, tt []name.Tag) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, img, tt); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// With one tag the archive is byte for byte what go-containerregistry's
// tarball.Write makes, which docker, podman, containerd and kind load.
func TestWriteIsTarballWrite(t *testing.T) {
	img := randomImage(t)
	tag := tags(t, "quay.io/cephfs-csi/cephfs-csi:v1")[0]
	var want bytes.Buffer
	if err := tarball.Write(tag, img, &want); err != nil {
		t.Fatal(err)
	}
	if got := write(t, img, []name.Tag{tag}); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("archive.Write differs from tarball.Write (%d and %d bytes)", len(got), want.Len())
	}
}

func TestWriteSortsTags(t *testing.T) {
	img := randomImage(t)
	a := write(t, img, tags(t, "quay.io/cephfs-csi/cephfs-csi:v1", "example.com/x/cephfs-csi:dev", "quay.io/cephfs-csi/cephfs-csi:v1"))
	b := write(t, img, tags(t, "example.com/x/cephfs-csi:dev", "quay.io/cephfs-csi/cephfs-csi:v1"))
	if !bytes.Equal(a, b) {
		t.Fatal("the same tags in another order give another archive")
	}
	file := filepath.Join(t.TempDir(), "img.tar")
	if err := os.WriteFile(file, a, 0o600); err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags(t, "example.com/x/cephfs-csi:dev", "quay.io/cephfs-csi/cephfs-csi:v1") {
		got, err := tarball.ImageFromPath(file, &tag)
		if err != nil {
			t.Fatalf("reading back %s: %v", tag, err)
		}
		if d, err := got.Digest(); err != nil || d != want {
			t.Fatalf("%s read back has digest %v (%v), want %v", tag, d, err, want)
		}
	}
	manifest := readManifest(t, file)
	wantTags := []string{"example.com/x/cephfs-csi:dev", "quay.io/cephfs-csi/cephfs-csi:v1"}
	if len(manifest) != 1 || !slices.Equal(manifest[0].RepoTags, wantTags) {
		t.Fatalf("manifest.json: %+v, want one image tagged %v", manifest, wantTags)
	}
}

func readManifest(t *testing.T, file string) tarball.Manifest {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	raw, err := extract(f, "manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m tarball.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestWriteNeedsATag(t *testing.T) {
	if err := Write(&bytes.Buffer{}, randomImage(t), nil); err == nil {
		t.Fatal("an archive without a tag was written")
	}
}
