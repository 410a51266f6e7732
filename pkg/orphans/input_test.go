package orphans

import (
	"io"
	"strings"
	"testing"
)

func TestKeyringKey(t *testing.T) {
	t.Parallel()
	const ring = "[client.other]\n\tkey = AAAA\n[client.admin]\n\tkey = BBBB==\n\tcaps mds = \"allow *\"\n"
	for user, want := range map[string]string{"admin": "BBBB==", "other": "AAAA", "none": ""} {
		got, err := keyringKey(ring, user)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("%s: %q, %v; want %q", user, got, err, want)
		}
	}
}

// TestReadHandles: blank lines and comments are skipped; a list in which
// no line is a handle is refused.
func TestReadHandles(t *testing.T) {
	t.Parallel()
	ok := "cfs1:c:myfs:csi:csi-vol-x\n\n# static\nmy-static-pv\n0001-0009-rook-ceph-0000000000000001-bff8a308-1431-11eb-b0fd-0242ac110006\n"
	got, err := readHandles("-", strings.NewReader(ok), io.Discard)
	if err != nil || len(got) != 3 || !got["my-static-pv"] {
		t.Errorf("handles %v, %v", got, err)
	}
	if _, err := readHandles("-", strings.NewReader("pvc-1\npvc-2\n"), io.Discard); err == nil {
		t.Error("a list without handles was accepted")
	}
}
