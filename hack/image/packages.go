// Package image holds what the image's Go tools and hack/image.sh share: the
// runtime package list (packages.txt) and the check that the Dockerfile
// installs the same list. The tools are in cmd/mkimage; this is a module of
// its own so that the driver's go.mod does not carry go-containerregistry.
package image

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// debianName: Debian policy 5.6.1's package names.
var debianName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// ReadPackageList parses packages.txt: one package a line, '#' starts a
// comment. It returns the names sorted, and fails on a malformed name or a
// duplicate.
func ReadPackageList(r io.Reader) ([]string, error) {
	var pkgs []string
	s := bufio.NewScanner(r)
	for n := 1; s.Scan(); n++ {
		line, _, _ := strings.Cut(s.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !debianName.MatchString(line) {
			return nil, fmt.Errorf("line %d: %q is not one Debian package name", n, line)
		}
		pkgs = append(pkgs, line)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("reading the package list: %w", err)
	}
	return sortedUnique(pkgs)
}

// DockerfileRuntimePackages returns the packages that the Dockerfile's last
// stage (the runtime image) installs with apt-get install, sorted. The stage
// must have exactly one such command.
func DockerfileRuntimePackages(r io.Reader) ([]string, error) {
	instrs, err := instructions(r)
	if err != nil {
		return nil, err
	}
	last := -1
	for i, in := range instrs {
		if keyword(in) == "FROM" {
			last = i
		}
	}
	if last < 0 {
		return nil, fmt.Errorf("the Dockerfile has no FROM")
	}
	var found [][]string
	for _, in := range instrs[last:] {
		if keyword(in) == "RUN" {
			found = append(found, aptInstalls(in)...)
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("the runtime stage (%s) has %d apt-get install commands, want 1", instrs[last], len(found))
	}
	return sortedUnique(found[0])
}

// instructions: the Dockerfile's instructions, comments dropped and
// backslash-continued lines joined.
func instructions(r io.Reader) ([]string, error) {
	var out []string
	var cur strings.Builder
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("reading the Dockerfile: %w", err)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out, nil
}

func keyword(instr string) string {
	k, _, _ := strings.Cut(instr, " ")
	return strings.ToUpper(k)
}

// aptInstalls: the package arguments of each `apt-get install` in a shell
// command line (options skipped; a command ends at && || ; or |).
func aptInstalls(cmd string) [][]string {
	var out [][]string
	words := strings.Fields(cmd)
	for i := 0; i+1 < len(words); i++ {
		if words[i] != "apt-get" || words[i+1] != "install" {
			continue
		}
		var pkgs []string
		for _, w := range words[i+2:] {
			if w == "&&" || w == "||" || w == ";" || w == "|" {
				break
			}
			w, end := strings.CutSuffix(w, ";")
			if w != "" && !strings.HasPrefix(w, "-") {
				pkgs = append(pkgs, w)
			}
			if end {
				break
			}
		}
		out = append(out, pkgs)
	}
	return out
}

func sortedUnique(pkgs []string) ([]string, error) {
	s := slices.Clone(pkgs)
	slices.Sort(s)
	for i := 1; i < len(s); i++ {
		if s[i] == s[i-1] {
			return nil, fmt.Errorf("%s is listed twice", s[i])
		}
	}
	return s, nil
}
