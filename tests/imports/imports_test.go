package imports

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestModuleObeysRules checks the real graph, as `go list -deps` builds it.
func TestModuleObeysRules(t *testing.T) {
	t.Parallel()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Standard,Imports,Deps", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p Package
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	var ours int
	for _, p := range pkgs {
		if _, ok := relative(p.ImportPath); ok {
			ours++
		}
	}
	if ours < 10 {
		t.Fatalf("go list found only %d of the module's packages", ours)
	}
	for _, v := range Check(pkgs) {
		t.Error(v)
	}
}

// TestRulesCatchViolations adds one forbidden import at a time to a graph
// that obeys the rules and expects the checker to name it.
func TestRulesCatchViolations(t *testing.T) {
	t.Parallel()
	mod := func(rel string) string { return Module + "/" + rel }
	clean := func() []Package {
		return []Package{
			{ImportPath: "fmt", Standard: true},
			{ImportPath: "google.golang.org/grpc"},
			{ImportPath: "github.com/container-storage-interface/spec/lib/go/csi"},
			{ImportPath: "k8s.io/klog/v2"},
			{ImportPath: mod("pkg/contract"), Imports: []string{"fmt"}, Deps: []string{"fmt"}},
			{ImportPath: mod("pkg/volumeid"), Imports: []string{"fmt"}, Deps: []string{"fmt"}},
			{ImportPath: mod("pkg/ceph"), Imports: []string{mod("pkg/contract")}, Deps: []string{"fmt", mod("pkg/contract")}},
			{ImportPath: mod("pkg/mounter"), Imports: []string{mod("pkg/contract")}, Deps: []string{mod("pkg/contract")}},
			{ImportPath: mod("pkg/node"), Imports: []string{mod("pkg/mounter")}, Deps: []string{mod("pkg/mounter"), mod("pkg/contract"), "google.golang.org/grpc"}},
			{ImportPath: mod("pkg/controller"), Imports: []string{mod("pkg/ceph")}, Deps: []string{mod("pkg/ceph"), mod("pkg/contract"), "google.golang.org/grpc"}},
			{ImportPath: mod("cmd/cephfs-csi"), Imports: []string{mod("pkg/node"), mod("pkg/controller")}},
		}
	}
	if v := Check(clean()); len(v) != 0 {
		t.Fatalf("clean graph reported: %v", v)
	}
	tests := []struct {
		name, pkg, dep, want string
	}{
		{"node imports controller", "pkg/node", mod("pkg/controller"), "pkg/node depends on " + mod("pkg/controller")},
		{"controller imports node", "pkg/controller", mod("pkg/node"), "pkg/controller depends on " + mod("pkg/node")},
		{"ceph links grpc", "pkg/ceph", "google.golang.org/grpc/codes", "pkg/ceph depends on google.golang.org/grpc/codes"},
		{"volumeid links the CSI spec", "pkg/volumeid", "github.com/container-storage-interface/spec/lib/go/csi", "pkg/volumeid depends on github.com/container-storage-interface/spec"},
		{"volumeid imports klog", "pkg/volumeid", "k8s.io/klog/v2", "pkg/volumeid imports k8s.io/klog/v2"},
		{"contract imports klog", "pkg/contract", "k8s.io/klog/v2", "pkg/contract imports k8s.io/klog/v2"},
		{"mounter links ceph", "pkg/mounter", mod("pkg/ceph"), "pkg/mounter depends on " + mod("pkg/ceph")},
		{"pkg imports cmd", "pkg/ceph", mod("cmd/cephfs-csi"), "pkg/ceph depends on " + mod("cmd/cephfs-csi")},
		{"pkg imports tests", "pkg/controller", mod("tests/testcluster"), "pkg/controller depends on " + mod("tests/testcluster")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pkgs := clean()
			for i := range pkgs {
				if pkgs[i].ImportPath == mod(tt.pkg) {
					pkgs[i].Imports = append(pkgs[i].Imports, tt.dep)
					pkgs[i].Deps = append(pkgs[i].Deps, tt.dep)
				}
			}
			v := Check(pkgs)
			found := false
			for _, line := range v {
				found = found || strings.HasPrefix(line, tt.want)
			}
			if !found {
				t.Errorf("violation %q not reported; got %v", tt.want, v)
			}
		})
	}
}
