package contract

import (
	"path/filepath"
	"strings"
)

// CleanPath checks a path that a request or a volume context gives (a
// staging or target path on the node, a path in the filesystem) before any
// mount command sees it, and returns it in its clean form.
//
// The rule: the path is absolute; no element is ".."; no character is an
// ASCII control character (NUL, newline, tab, DEL, …), which would end an
// argument early, split a line of the mount table or hide in a log. What is
// left — repeated slashes, "." elements, a trailing slash — names the same
// directory, so it is accepted and dropped: the returned path is
// filepath.Clean's, and callers use it from then on. An empty path is
// refused too; field names the path in the message ("staging target path",
// `volume context "rootPath"`).
func CleanPath(field, p string) (string, error) {
	if p == "" {
		return "", Invalid("%s is required", field)
	}
	if i := strings.IndexFunc(p, isControl); i >= 0 {
		return "", Invalid("%s %q: control character %q at byte %d", field, p, p[i], i)
	}
	if p[0] != '/' {
		return "", Invalid("%s %q: want an absolute path", field, p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return "", Invalid("%s %q: a \"..\" element is not allowed", field, p)
		}
	}
	return filepath.Clean(p), nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
