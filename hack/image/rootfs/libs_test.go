package rootfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestResolveStaysInRoot(t *testing.T) {
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "usr/lib/ld.so"), nil, 0o644))
	must(t, os.Symlink("usr/lib", filepath.Join(root, "lib")))
	must(t, os.MkdirAll(filepath.Join(root, "lib64"), 0o755))
	// An absolute link, as merged-/usr roots have: it must resolve in root.
	must(t, os.Symlink("/lib/ld.so", filepath.Join(root, "lib64/ld.so")))
	got, err := resolve(root, "/lib64/ld.so")
	if want := filepath.Join(root, "usr/lib/ld.so"); err != nil || got != want {
		t.Fatalf("resolve: %q, %v; want %q", got, err, want)
	}
	// ".." cannot climb out of root.
	got, err = resolve(root, "/../../lib/ld.so")
	if want := filepath.Join(root, "usr/lib/ld.so"); err != nil || got != want {
		t.Fatalf("resolve ..: %q, %v; want %q", got, err, want)
	}
	must(t, os.Symlink("/etc/passwd", filepath.Join(root, "lib/passwd")))
	if _, err := resolve(root, "/lib/passwd"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a link to a host file outside root resolved (err %v)", err)
	}
	must(t, os.Symlink("loop", filepath.Join(root, "loop")))
	if _, err := resolve(root, "/loop"); !errors.Is(err, errLoop) {
		t.Fatalf("a link loop: err %v, want %v", err, errLoop)
	}
}

// hostBinary: a dynamically linked binary of the host and its libraries.
func hostBinary(t *testing.T) (string, string, []string) {
	t.Helper()
	bin := "/bin/ls"
	info, err := dynamicInfo(bin)
	interp, needed := info.interp, info.needed
	if err != nil || interp == "" || len(needed) < 2 {
		t.Skipf("%s is not a dynamically linked ELF with two libraries or more here", bin)
	}
	return bin, interp, needed
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	must(t, err)
	defer in.Close()
	must(t, os.MkdirAll(filepath.Dir(dst), 0o755))
	out, err := os.Create(dst)
	must(t, err)
	defer out.Close()
	_, err = io.Copy(out, in)
	must(t, err)
}

func TestMissingLibraries(t *testing.T) {
	bin, interp, needed := hostBinary(t)
	if missing, err := MissingLibraries("/", bin); err != nil || len(missing) != 0 {
		t.Fatalf("the host lacks %v for its own %s (err %v)", missing, bin, err)
	}
	// A root with only the interpreter and libc.
	root := t.TempDir()
	hostInterp, err := resolve("/", interp)
	must(t, err)
	copyFile(t, hostInterp, filepath.Join(root, interp))
	dirs, err := searchDirs("/")
	must(t, err)
	libc, ok := find("/", dirs, "libc.so.6")
	if !ok || !slices.Contains(needed, "libc.so.6") {
		t.Skipf("%s does not link the host's libc.so.6", bin)
	}
	copyFile(t, libc, filepath.Join(root, "usr/lib/x86_64-linux-gnu/libc.so.6"))
	missing, err := MissingLibraries(root, bin)
	must(t, err)
	var want []string
	for _, lib := range needed {
		if lib != "libc.so.6" {
			want = append(want, lib)
		}
	}
	for _, lib := range want {
		if !slices.Contains(missing, lib) {
			t.Errorf("%s is missing from the root but not reported (reported: %v)", lib, missing)
		}
	}
	if slices.Contains(missing, "libc.so.6") || slices.Contains(missing, interp) {
		t.Errorf("reported missing: %v; libc and the interpreter are there", missing)
	}
	// Without the interpreter, it is reported too.
	must(t, os.Remove(filepath.Join(root, interp)))
	missing, err = MissingLibraries(root, bin)
	must(t, err)
	if !slices.Contains(missing, interp) {
		t.Errorf("the missing interpreter %s is not reported (reported: %v)", interp, missing)
	}
}

func TestSearchDirsReadsLdSoConf(t *testing.T) {
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "etc/ld.so.conf.d"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "etc/ld.so.conf.d/x.conf"), []byte("# comment\n/opt/lib # why\n\n"), 0o644))
	dirs, err := searchDirs(root)
	must(t, err)
	if dirs[0] != "/opt/lib" || !slices.Contains(dirs, "/usr/lib/x86_64-linux-gnu") {
		t.Fatalf("search dirs %v: want /opt/lib first, then the defaults", dirs)
	}
}

func TestRunpaths(t *testing.T) {
	e := elfInfo{rpath: []string{"/old"}, runpath: []string{"/usr/lib/ceph", "$ORIGIN/../priv", "${ORIGIN}/x", "relative"}}
	got := e.runpaths("/usr/lib")
	if want := []string{"/usr/lib/ceph", "/usr/lib/../priv", "/usr/lib/x"}; !slices.Equal(got, want) {
		t.Errorf("runpaths: %v, want %v (DT_RUNPATH over DT_RPATH, $ORIGIN replaced)", got, want)
	}
	if got := e.runpaths(""); !slices.Equal(got, []string{"/usr/lib/ceph"}) {
		t.Errorf("runpaths without an origin: %v, want only /usr/lib/ceph", got)
	}
	if got := (elfInfo{rpath: []string{"/old"}}).runpaths(""); !slices.Equal(got, []string{"/old"}) {
		t.Errorf("DT_RPATH alone: %v", got)
	}
}

// librados finds libceph-common in a private directory through its
// DT_RUNPATH (Debian's Ceph packages, Pacific to Tentacle).
func TestMissingLibrariesFollowsRunpath(t *testing.T) {
	lib := "/usr/lib/x86_64-linux-gnu/librados.so.2"
	info, err := dynamicInfo(lib)
	if err != nil || len(info.runpath)+len(info.rpath) == 0 {
		t.Skipf("no %s with a run path on this host", lib)
	}
	if missing, err := MissingLibraries("/", lib); err != nil || len(missing) != 0 {
		t.Fatalf("the host's %s lacks %v (err %v)", lib, missing, err)
	}
}
