package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var epoch = time.Unix(1700000000, 0)

// makeTree builds a small root with every kind of entry a Debian tree has.
// order reverses the creation order, so that two trees with the same
// content differ in inode numbers and directory order on disk.
func makeTree(t *testing.T, reverse bool) string {
	t.Helper()
	root := t.TempDir()
	steps := []func(){
		func() { mkdir(t, root, "usr/bin", 0o755) },
		func() { mkdir(t, root, "tmp", os.ModeSticky|0o777) },
		func() { mkdir(t, root, "etc", 0o755) },
	}
	if reverse {
		for i, j := 0, len(steps)-1; i < j; i, j = i+1, j-1 {
			steps[i], steps[j] = steps[j], steps[i]
		}
	}
	for _, s := range steps {
		s()
	}
	write(t, root, "usr/bin/tool", "#!/bin/sh\necho tool\n", 0o755)
	write(t, root, "usr/bin/su", "setuid", os.ModeSetuid|0o755)
	write(t, root, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0o644)
	write(t, root, "etc/empty", "", 0o600)
	must(t, os.Link(filepath.Join(root, "usr/bin/tool"), filepath.Join(root, "usr/bin/tool-alias")))
	must(t, os.Symlink("usr/bin", filepath.Join(root, "bin")))
	must(t, os.Symlink("/usr/bin/tool", filepath.Join(root, "usr/bin/abs-link")))
	// Times that a second build would not reproduce.
	now := time.Now()
	must(t, os.Chtimes(filepath.Join(root, "etc/passwd"), now, now))
	return root
}

func mkdir(t *testing.T, root, p string, mode os.FileMode) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Join(root, p), 0o755))
	must(t, os.Chmod(filepath.Join(root, p), mode))
}

func write(t *testing.T, root, p, content string, mode os.FileMode) {
	t.Helper()
	must(t, os.WriteFile(filepath.Join(root, p), []byte(content), 0o600))
	must(t, os.Chmod(filepath.Join(root, p), mode)) // not subject to the umask
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func tarTree(t *testing.T, root string, mtime time.Time) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, mtime)
	must(t, w.AddTree(root))
	must(t, w.Close())
	return buf.Bytes()
}

type entry struct {
	hdr  *tar.Header
	body string
}

func readTar(t *testing.T, b []byte) []entry {
	t.Helper()
	var out []entry
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		must(t, err)
		body, err := io.ReadAll(tr)
		must(t, err)
		out = append(out, entry{hdr, string(body)})
	}
}

func TestAddTreeIsDeterministic(t *testing.T) {
	a := tarTree(t, makeTree(t, false), epoch)
	// Same content, built in another order at another time, read later.
	time.Sleep(1100 * time.Millisecond)
	b := tarTree(t, makeTree(t, true), epoch)
	if !bytes.Equal(a, b) {
		t.Fatalf("two trees with the same content give different layers (%d and %d bytes)", len(a), len(b))
	}
	if c := tarTree(t, makeTree(t, false), epoch.Add(time.Second)); bytes.Equal(a, c) {
		t.Fatal("the layer does not depend on the modification time it is given")
	}
}

func TestAddTreeEntries(t *testing.T) {
	root := makeTree(t, false)
	entries := readTar(t, tarTree(t, root, epoch))
	var names []string
	byName := map[string]*tar.Header{}
	for _, e := range entries {
		names = append(names, e.hdr.Name)
		byName[e.hdr.Name] = e.hdr
		h := e.hdr
		if !h.ModTime.Equal(epoch) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: times %v %v %v, want only the modification time %v", h.Name, h.ModTime, h.AccessTime, h.ChangeTime, epoch)
		}
		if h.Uname != "" || h.Gname != "" || len(h.PAXRecords) != 0 {
			t.Errorf("%s: names %q/%q, PAX records %v: want none", h.Name, h.Uname, h.Gname, h.PAXRecords)
		}
	}
	// Depth first in name order: a directory precedes its children.
	want := "bin etc/ etc/empty etc/passwd tmp/ usr/ usr/bin/ usr/bin/abs-link usr/bin/su usr/bin/tool usr/bin/tool-alias"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("entries\n %s\nwant\n %s", got, want)
	}
	checks := []struct {
		name     string
		typ      byte
		mode     int64
		linkname string
	}{
		{"bin", tar.TypeSymlink, 0o777, "usr/bin"},
		{"usr/bin/abs-link", tar.TypeSymlink, 0o777, "/usr/bin/tool"},
		{"tmp/", tar.TypeDir, 0o1777, ""},
		{"usr/bin/su", tar.TypeReg, 0o4755, ""},
		{"usr/bin/tool", tar.TypeReg, 0o755, ""},
		{"usr/bin/tool-alias", tar.TypeLink, 0o755, "usr/bin/tool"},
		{"etc/empty", tar.TypeReg, 0o600, ""},
	}
	for _, c := range checks {
		h := byName[c.name]
		if h.Typeflag != c.typ || h.Mode != c.mode || h.Linkname != c.linkname {
			t.Errorf("%s: type %q mode %o link %q, want %q %o %q", c.name, h.Typeflag, h.Mode, h.Linkname, c.typ, c.mode, c.linkname)
		}
	}
	if h := byName["usr/bin/tool-alias"]; h.Size != 0 {
		t.Errorf("the hard link carries %d bytes, want 0", h.Size)
	}
	for _, e := range entries {
		if e.hdr.Name == "usr/bin/tool" && e.body != "#!/bin/sh\necho tool\n" {
			t.Errorf("usr/bin/tool holds %q", e.body)
		}
	}
}

func TestAddTreeKeepsNumericOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	root := makeTree(t, false)
	must(t, os.Lchown(filepath.Join(root, "etc/passwd"), 64045, 42))
	for _, e := range readTar(t, tarTree(t, root, epoch)) {
		want := [2]int{0, 0}
		if e.hdr.Name == "etc/passwd" {
			want = [2]int{64045, 42}
		}
		if got := [2]int{e.hdr.Uid, e.hdr.Gid}; got != want {
			t.Errorf("%s: owner %v, want %v", e.hdr.Name, got, want)
		}
	}
}

func TestAddTreeLongNames(t *testing.T) {
	root := t.TempDir()
	long := strings.Repeat("d", 120)
	mkdir(t, root, long, 0o755)
	write(t, root, long+"/"+strings.Repeat("f", 120), "x", 0o644)
	a, b := tarTree(t, root, epoch), tarTree(t, root, epoch)
	if !bytes.Equal(a, b) {
		t.Fatal("long names: two writes differ")
	}
	entries := readTar(t, a)
	if len(entries) != 2 || entries[1].hdr.Name != long+"/"+strings.Repeat("f", 120) {
		t.Fatalf("long names: got %d entries, last %q", len(entries), entries[len(entries)-1].hdr.Name)
	}
}

func TestAddTreeRefusesSockets(t *testing.T) {
	root := t.TempDir()
	l, err := net.Listen("unix", filepath.Join(root, "sock"))
	must(t, err)
	defer l.Close()
	var buf bytes.Buffer
	if err := NewWriter(&buf, epoch).AddTree(root); err == nil || !strings.Contains(err.Error(), "socket") {
		t.Fatalf("a socket in the tree: err %v, want one naming the socket", err)
	}
}

func TestAddFileWritesParents(t *testing.T) {
	src := filepath.Join(t.TempDir(), "bin")
	must(t, os.WriteFile(src, []byte("ELF"), 0o600))
	var buf bytes.Buffer
	w := NewWriter(&buf, epoch)
	must(t, w.AddFile("/usr/local/bin/cephfs-csi", src, 0o755))
	must(t, w.AddFile("usr/local/bin/other", src, 0o700))
	must(t, w.Close())
	var got []string
	for _, e := range readTar(t, buf.Bytes()) {
		h := e.hdr
		got = append(got, h.Name)
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(epoch) {
			t.Errorf("%s: owner %d:%d time %v", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		switch {
		case h.Typeflag == tar.TypeDir && h.Mode != 0o755:
			t.Errorf("%s: mode %o, want 755", h.Name, h.Mode)
		case h.Name == "usr/local/bin/cephfs-csi" && (h.Mode != 0o755 || e.body != "ELF"):
			t.Errorf("%s: mode %o body %q", h.Name, h.Mode, e.body)
		case h.Name == "usr/local/bin/other" && h.Mode != 0o700:
			t.Errorf("%s: mode %o, want 700", h.Name, h.Mode)
		}
	}
	want := "usr/ usr/local/ usr/local/bin/ usr/local/bin/cephfs-csi usr/local/bin/other"
	if strings.Join(got, " ") != want {
		t.Fatalf("entries %q, want %q", strings.Join(got, " "), want)
	}
}
