package chart

import (
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/lint/support"
)

// TestChartLint runs what `helm lint --strict` runs (Helm's lint package):
// no warning and no error for the defaults and for the other value sets;
// informational messages (such as "icon is recommended") are listed.
func TestChartLint(t *testing.T) {
	for _, vals := range []string{
		`{}`,
		`{"createNamespace": true, "builtinRegistration": true, "mountHolder": {"enabled": false}}`,
		`{"storageClass": {"create": true}, "volumeSnapshotClass": {"create": true}, "selinuxMount": false}`,
		`{"externallyManagedConfigmap": true, "configMapName": "rook-ceph-csi-config", "configMapKey": "csi-cluster-config-json"}`,
	} {
		lint := action.NewLint()
		lint.Strict = true
		lint.Namespace = namespace
		res := lint.Run([]string{chartDir(t)}, values(t, vals))
		if res.TotalChartsLinted != 1 {
			t.Errorf("%s: %d charts linted", vals, res.TotalChartsLinted)
		}
		for _, msg := range res.Messages {
			if msg.Severity < support.WarningSev {
				t.Logf("%s: %s", vals, msg)
			}
		}
		for _, err := range res.Errors {
			t.Errorf("%s: %v", vals, err)
		}
	}
}
