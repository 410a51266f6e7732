// Package render renders charts/cephfs-csi as `helm template` does, with
// Helm's library, and kustomize directories as `kubectl kustomize` does, into
// objects that compare as JSON would.
package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Object is one Kubernetes object as decoded JSON.
type Object = map[string]any

// Chart renders the chart in dir for a release of that name and namespace,
// with values over the chart's values.yaml, client-side (no API server).
func Chart(dir, release, namespace string, values map[string]any) (string, error) {
	chrt, err := loader.Load(dir)
	if err != nil {
		return "", fmt.Errorf("load chart %s: %w", dir, err)
	}
	install := action.NewInstall(&action.Configuration{})
	install.ClientOnly = true
	install.DryRun = true
	install.Replace = true // no release store to ask whether the name is taken
	install.ReleaseName = release
	install.Namespace = namespace
	rel, err := install.Run(chrt, values)
	if err != nil {
		return "", fmt.Errorf("render chart %s: %w", dir, err)
	}
	return rel.Manifest, nil
}

// Kustomize renders a kustomization as `kubectl kustomize` does. Files
// outside dir may be loaded, so that a test's kustomization in a temporary
// directory can name deploy/csi and its components.
func Kustomize(dir string) (string, error) {
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsNone
	res, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return "", fmt.Errorf("kustomize %s: %w", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		return "", fmt.Errorf("kustomize %s: %w", dir, err)
	}
	return string(out), nil
}

// KustomizeWith renders deploy/csi or deploy/csi-builtin (base)
// with the given kustomize components, through a kustomization written in a
// temporary directory.
func KustomizeWith(base string, components ...string) (string, error) {
	tmp, err := os.MkdirTemp("", "cephfs-csi-kustomize-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	// kustomize takes only relative paths to directories.
	rel := func(p string) (string, error) { return filepath.Rel(tmp, p) }
	var b bytes.Buffer
	r, err := rel(base)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [%q]\n", r)
	if len(components) > 0 {
		b.WriteString("components:\n")
		for _, c := range components {
			if r, err = rel(c); err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "  - %q\n", r)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, "kustomization.yaml"), b.Bytes(), 0o644); err != nil {
		return "", err
	}
	return Kustomize(tmp)
}

// Objects decodes a multi-document YAML stream; empty documents are skipped.
func Objects(manifest string) ([]Object, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(manifest)), 4096)
	var objs []Object
	for {
		var obj Object
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode manifest: %w", err)
		}
		if len(obj) > 0 {
			objs = append(objs, obj)
		}
	}
}
