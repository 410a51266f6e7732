package chart

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
)

// TestChartStrictDecode decodes every rendered object of several value sets
// into its Kubernetes API type, refusing unknown and duplicate fields: the
// offline half of what the e2e's server-side dry run checks (tests/e2e,
// Manifests). VolumeSnapshotClass is no built-in type; the e2e checks it
// against the CRD.
func TestChartStrictDecode(t *testing.T) {
	decoder := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	for _, vals := range []string{
		`{"createNamespace": true}`,
		`{"builtinRegistration": true, "mountHolder": {"enabled": false}, "selinuxMount": false}`,
		`{"storageClass": {"create": true, "parameters": {"uid": 1000}, "mountOptions": ["debug"]},
		  "volumeSnapshotClass": {"create": true},
		  "nodeplugin": {"tolerations": [{"operator": "Exists"}], "podAnnotations": {"a": "b"}},
		  "provisioner": {"nodeSelector": {"x": "y"}, "podAnnotations": {"a": "b"}},
		  "imagePullSecrets": [{"name": "regcred"}]}`,
		`{"externallyManagedConfigmap": true, "configMapKey": "csi-cluster-config-json"}`,
	} {
		for _, obj := range renderObjects(t, values(t, vals)) {
			if obj["kind"] == "VolumeSnapshotClass" {
				continue
			}
			data, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := decoder.Decode(data, nil, nil); err != nil {
				t.Errorf("%s: %s: %v", strings.Join(strings.Fields(vals), " "), key(obj), err)
			}
		}
	}
}
