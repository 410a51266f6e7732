// Package layer writes image layers (tar streams) that depend only on the
// content, names, modes and owners of the files they hold: two writes of the
// same tree give the same bytes, whenever and wherever they run.
package layer

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Writer writes a layer's entries, always with the same time stamp and
// without user and group names, access or change times, or extended
// attributes: the things that vary between two builds of the same files.
type Writer struct {
	tw      *tar.Writer
	modTime time.Time
	// dirs already written, so that parents are written once.
	dirs map[string]bool
	// first name written for each (device, inode) with more than one link:
	// later names of the same file become hard links to it.
	inodes map[inode]string
}

type inode struct{ dev, ino uint64 }

// NewWriter writes a tar stream to w whose every entry has modTime as its
// modification time.
func NewWriter(w io.Writer, modTime time.Time) *Writer {
	return &Writer{
		tw:      tar.NewWriter(w),
		modTime: modTime.UTC().Truncate(time.Second),
		dirs:    map[string]bool{},
		inodes:  map[inode]string{},
	}
}

// Close writes the tar trailer. It does not close the underlying writer.
func (w *Writer) Close() error {
	if err := w.tw.Close(); err != nil {
		return fmt.Errorf("closing the tar stream: %w", err)
	}
	return nil
}

// AddTree writes every entry below root (not root itself), depth first in
// name order (os.ReadDir sorts), so parents precede their children and the
// order never depends on the file system. Owners are the files' numeric ones
// (a package may own files by a system user, e.g. ceph's /var/lib/ceph),
// modes are kept, set-id and sticky bits included.
func (w *Writer) AddTree(root string) error {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return fmt.Errorf("naming %s: %w", p, err)
		}
		return w.addPath(p, filepath.ToSlash(rel))
	})
	if err != nil {
		return fmt.Errorf("writing the tree %s: %w", root, err)
	}
	return nil
}

// addPath writes the file system object at p under the name rel.
func (w *Writer) addPath(p, rel string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no stat_t (not a Unix file system?)", p)
	}
	link := ""
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		if link, err = os.Readlink(p); err != nil {
			return fmt.Errorf("reading the link %s: %w", p, err)
		}
	case fi.Mode()&fs.ModeSocket != 0:
		return fmt.Errorf("%s is a socket, which tar cannot hold", p)
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("header of %s: %w", p, err)
	}
	hdr.Name = rel
	hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
	if fi.Mode().IsRegular() && st.Nlink > 1 {
		key := inode{dev: uint64(st.Dev), ino: st.Ino}
		if first, seen := w.inodes[key]; seen {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
		} else {
			w.inodes[key] = rel
		}
	}
	if hdr.Typeflag != tar.TypeReg {
		return w.write(hdr, nil)
	}
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("opening: %w", err)
	}
	defer f.Close()
	return w.write(hdr, f)
}

// AddFile writes the regular file src as name (a slash-separated path,
// relative or absolute), owned by root, with mode perm, after the parent
// directories not yet written (0755, owned by root).
func (w *Writer) AddFile(name, src string, perm fs.FileMode) error {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if name == "" {
		return fmt.Errorf("AddFile: empty name")
	}
	if err := w.addParents(name); err != nil {
		return err
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("opening %s: %w", src, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", src, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(perm.Perm()), Size: fi.Size()}
	return w.write(hdr, f)
}

func (w *Writer) addParents(name string) error {
	dir := path.Dir(name)
	if dir == "." || w.dirs[dir] {
		return nil
	}
	if err := w.addParents(dir); err != nil {
		return err
	}
	return w.write(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755}, nil)
}

// write normalizes hdr and writes it, then the content read from r.
func (w *Writer) write(hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeDir {
		hdr.Name = strings.TrimSuffix(hdr.Name, "/") + "/"
		w.dirs[strings.TrimSuffix(hdr.Name, "/")] = true
	}
	hdr.ModTime = w.modTime
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	hdr.Uname, hdr.Gname = "", ""
	hdr.PAXRecords = nil // no extended attributes, whatever the file system has
	// PAX, only where a name or number needs it: ustar headers otherwise.
	hdr.Format = tar.FormatUnknown
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing the header of %s: %w", hdr.Name, err)
	}
	if r == nil {
		return nil
	}
	n, err := io.Copy(w.tw, r)
	if err != nil {
		return fmt.Errorf("writing %s: %w", hdr.Name, err)
	}
	if n != hdr.Size {
		return fmt.Errorf("%s changed while being written (%d bytes, expected %d)", hdr.Name, n, hdr.Size)
	}
	return nil
}
