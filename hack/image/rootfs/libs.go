// Package rootfs checks that a root file system can run a given ELF binary:
// its program interpreter and every shared library it needs, directly or
// through other libraries, are found in the root where the dynamic linker
// would look. It is a static `ldd` that needs no chroot, so an image that
// would fail with "error while loading shared libraries" is never written.
package rootfs

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// defaultDirs: where the dynamic linker looks after ld.so.conf's
// directories (Debian's multiarch ones first).
var defaultDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// MissingLibraries returns the interpreter and the libraries binary (a
// path on the host) needs that root lacks, sorted; none if it has them all.
func MissingLibraries(root, binary string) ([]string, error) {
	bin, err := dynamicInfo(binary)
	if err != nil {
		return nil, err
	}
	dirs, err := searchDirs(root)
	if err != nil {
		return nil, err
	}
	var missing []string
	if bin.interp != "" {
		if _, err := resolve(root, bin.interp); err != nil {
			missing = append(missing, bin.interp)
		}
	}
	// A library is looked up in the run paths of the object that needs it,
	// then where every library is; the first one found by a name serves
	// every object that needs that name, as in the dynamic linker.
	type want struct {
		lib      string
		runpaths []string
	}
	var queue []want
	for _, lib := range bin.needed {
		queue = append(queue, want{lib, bin.runpaths("")})
	}
	seen := map[string]bool{}
	for len(queue) > 0 {
		w := queue[0]
		queue = queue[1:]
		if seen[w.lib] {
			continue
		}
		seen[w.lib] = true
		host, ok := find(root, append(w.runpaths, dirs...), w.lib)
		if !ok {
			missing = append(missing, w.lib)
			continue
		}
		info, err := dynamicInfo(host)
		if err != nil {
			return nil, fmt.Errorf("%s in %s: %w", w.lib, root, err)
		}
		origin := path.Dir("/" + filepath.ToSlash(strings.TrimPrefix(host, filepath.Clean(root))))
		for _, lib := range info.needed {
			queue = append(queue, want{lib, info.runpaths(origin)})
		}
	}
	slices.Sort(missing)
	return missing, nil
}

// elfInfo: what the dynamic linker reads from an ELF file.
type elfInfo struct {
	interp         string   // program interpreter, empty if none
	needed         []string // DT_NEEDED
	rpath, runpath []string // DT_RPATH, DT_RUNPATH entries
}

// runpaths: the directories in which the object's own dependencies are
// looked up first: DT_RUNPATH, or DT_RPATH where it has no DT_RUNPATH.
// $ORIGIN is the object's directory in the root; entries naming it are
// dropped when that is unknown (origin empty: the binary, outside the root).
func (e elfInfo) runpaths(origin string) []string {
	dirs := e.runpath
	if len(dirs) == 0 {
		dirs = e.rpath
	}
	var out []string
	for _, d := range dirs {
		if strings.Contains(d, "$ORIGIN") || strings.Contains(d, "${ORIGIN}") {
			if origin == "" {
				continue
			}
			d = strings.NewReplacer("${ORIGIN}", origin, "$ORIGIN", origin).Replace(d)
		}
		if strings.HasPrefix(d, "/") {
			out = append(out, d)
		}
	}
	return out
}

func dynamicInfo(file string) (elfInfo, error) {
	var info elfInfo
	f, err := elf.Open(file)
	if err != nil {
		return info, fmt.Errorf("reading ELF %s: %w", file, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return info, fmt.Errorf("reading the interpreter of %s: %w", file, err)
		}
		info.interp = strings.TrimRight(string(b), "\x00")
	}
	if info.needed, err = f.ImportedLibraries(); err != nil {
		return info, fmt.Errorf("reading the libraries of %s: %w", file, err)
	}
	for tag, dst := range map[elf.DynTag]*[]string{elf.DT_RPATH: &info.rpath, elf.DT_RUNPATH: &info.runpath} {
		vals, err := f.DynString(tag)
		if err != nil {
			return info, fmt.Errorf("reading %s of %s: %w", tag, file, err)
		}
		for _, v := range vals {
			*dst = append(*dst, strings.Split(v, ":")...)
		}
	}
	return info, nil
}

// searchDirs: ld.so.conf's directories (one level of include, as Debian's
// ld.so.conf has) then the default ones.
func searchDirs(root string) ([]string, error) {
	var dirs []string
	confs, err := filepath.Glob(filepath.Join(root, "etc/ld.so.conf.d/*.conf"))
	if err != nil {
		return nil, fmt.Errorf("listing ld.so.conf.d: %w", err)
	}
	slices.Sort(confs)
	for _, c := range confs {
		ds, err := confDirs(c)
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, ds...)
	}
	return append(dirs, defaultDirs...), nil
}

func confDirs(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	defer f.Close()
	var dirs []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		line, _, _ := strings.Cut(s.Text(), "#")
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "/") {
			dirs = append(dirs, line)
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return dirs, nil
}

// find: the host path of library lib in the first of dirs (paths inside
// root) that has it.
func find(root string, dirs []string, lib string) (string, bool) {
	if strings.Contains(lib, "/") {
		p, err := resolve(root, lib)
		return p, err == nil
	}
	for _, d := range dirs {
		if p, err := resolve(root, path.Join(d, lib)); err == nil {
			return p, true
		}
	}
	return "", false
}

// errLoop: too many symbolic links, as the kernel's ELOOP.
var errLoop = errors.New("too many levels of symbolic links")

// resolve maps p, a path inside root, to the host path of the regular file
// it names, following symbolic links as if root were "/": an absolute link
// (usr-merged roots have some) restarts at root, never at the host's "/".
func resolve(root, p string) (string, error) {
	todo := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	var done []string // resolved components, below root
	for links := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		host := filepath.Join(append([]string{root}, append(done, c)...)...)
		fi, err := os.Lstat(host)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, c)
			continue
		}
		if links++; links > 40 {
			return "", fmt.Errorf("%s: %w", p, errLoop)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			done = nil
		}
		todo = append(strings.Split(strings.Trim(target, "/"), "/"), todo...)
	}
	host := filepath.Join(append([]string{root}, done...)...)
	fi, err := os.Stat(host)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", p)
	}
	return host, nil
}
