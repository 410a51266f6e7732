// Package imports checks the driver's package graph against the house rules:
// the services do not import each other, the Ceph layer and the ID format
// know nothing of gRPC or CSI, the leaf packages use the standard library
// only, and nothing under pkg/ reaches into cmd/ or tests/.
package imports

import (
	"fmt"
	"sort"
	"strings"
)

// Module is the driver's module path.
const Module = "github.com/cephfs-csi/cephfs-csi"

// Package is what `go list -deps -json` says of one package.
type Package struct {
	ImportPath string
	Standard   bool
	Imports    []string // direct imports
	Deps       []string // every package it depends on, transitively
}

// A rule forbids packages (by module-relative prefix, "pkg/ceph") from
// depending on others (module-relative prefixes or full import-path
// prefixes), directly or through any path.
type rule struct {
	from   []string
	banned []string
	why    string
}

var (
	grpcAndCSI = []string{"google.golang.org/grpc", "github.com/container-storage-interface/spec"}
	rules      = []rule{
		{[]string{"pkg/node"}, []string{"pkg/controller", "pkg/ceph"}, "the node reaches Ceph through its mounters and an injected lookup, never through controller code"},
		{[]string{"pkg/controller"}, []string{"pkg/node", "pkg/mounter"}, "the controller never mounts"},
		{[]string{"pkg/mounter"}, []string{"pkg/ceph", "pkg/controller", "pkg/node"}, "mounters run commands; they do not link librados"},
		{[]string{"pkg/ceph"}, []string{"pkg/controller", "pkg/node", "pkg/mounter", "pkg/server", "pkg/driver"}, "the Ceph layer sits below the services"},
		{[]string{"pkg/mountholder"}, []string{"pkg/ceph", "pkg/controller", "pkg/node", "pkg/server", "pkg/driver"}, "the mount holder runs ceph-fuse with the mounter's arguments; it knows no CSI service and links no librados"},
		{[]string{"pkg/ceph", "pkg/volumeid", "pkg/contract", "pkg/mounter", "pkg/mountholder", "pkg/config"}, grpcAndCSI, "gRPC and CSI types stop at the services"},
		{[]string{"pkg", "cmd"}, []string{"tests", "hack"}, "production code does not link test or tool code"},
		{[]string{"pkg"}, []string{"cmd"}, "cmd is the top of the graph"},
	}
	// stdlibOnly are the leaf packages: the standard library and nothing else.
	stdlibOnly = []string{"pkg/volumeid", "pkg/contract"}
)

// Check returns one line per violation, sorted; none means the graph obeys
// the rules.
func Check(pkgs []Package) []string {
	standard := map[string]bool{}
	for _, p := range pkgs {
		standard[p.ImportPath] = p.Standard
	}
	var out []string
	for _, p := range pkgs {
		rel, ok := relative(p.ImportPath)
		if !ok {
			continue
		}
		for _, r := range rules {
			if !under(rel, r.from) {
				continue
			}
			for _, d := range p.Deps {
				if bannedDep(d, r.banned) {
					out = append(out, fmt.Sprintf("%s depends on %s: %s", rel, d, r.why))
				}
			}
		}
		if under(rel, stdlibOnly) {
			for _, d := range p.Imports {
				if !standard[d] && !isStandardPath(d) {
					out = append(out, fmt.Sprintf("%s imports %s: it must use the standard library only", rel, d))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// relative returns a module package's path without the module prefix.
func relative(path string) (string, bool) {
	rel, ok := strings.CutPrefix(path, Module+"/")
	return rel, ok
}

// under tells whether rel is one of prefixes or below one.
func under(rel string, prefixes []string) bool {
	for _, p := range prefixes {
		if rel == p || strings.HasPrefix(rel, p+"/") {
			return true
		}
	}
	return false
}

func bannedDep(dep string, banned []string) bool {
	if rel, ok := relative(dep); ok {
		return under(rel, banned)
	}
	return under(dep, banned)
}

// isStandardPath is the go command's own test for a standard-library path:
// no dot in the first element.
func isStandardPath(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}
