package contract

import (
	"errors"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		problem  string // part of the error message; "" when accepted
	}{
		{"/var/lib/kubelet/pods/x/mount", "/var/lib/kubelet/pods/x/mount", ""},
		{"/", "/", ""},
		{"/volumes/csi/a/", "/volumes/csi/a", ""},
		{"//volumes//csi/./a", "/volumes/csi/a", ""},
		{"/a/..b/c..", "/a/..b/c..", ""},
		{"/with space/and:colon", "/with space/and:colon", ""},
		{"", "", "is required"},
		{"relative/path", "", "absolute"},
		{"./a", "", "absolute"},
		{"/a/../b", "", `".."`},
		{"/..", "", `".."`},
		{"/a/..", "", `".."`},
		{"/a\x00b", "", "control character"},
		{"/a\nb", "", "control character"},
		{"/a\tb", "", "control character"},
		{"/a\x7fb", "", "control character"},
		{"a\n/../b", "", "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := CleanPath("target path", tt.in)
			if tt.problem == "" {
				if err != nil || got != tt.want {
					t.Fatalf("CleanPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.problem) || !strings.HasPrefix(err.Error(), "target path") {
				t.Fatalf("CleanPath(%q) = %q, %v; want ErrInvalid naming the field and %q", tt.in, got, err, tt.problem)
			}
		})
	}
}
