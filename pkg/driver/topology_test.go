package driver

import (
	"regexp"
	"strings"
	"testing"
)

// A label key: an optional DNS-subdomain prefix of at most 253 characters,
// a slash, and a name of at most 63 (Kubernetes' qualified names).
var labelKey = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)

func TestTopologyKeyIsALabelKey(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"cephfs-csi.io", "cephfs.csi.ceph.com", "a", strings.Repeat("x", 63)} {
		key := TopologyKey(name)
		prefix, _, _ := strings.Cut(key, "/")
		if !labelKey.MatchString(key) || len(prefix) > 253 {
			t.Errorf("TopologyKey(%q) = %q: not a label key", name, key)
		}
	}
}
