package csiargs

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want int64
	}{{"1Gi", 1 << 30}, {"512Mi", 512 << 20}, {"4096", 4096}, {"2Ti", 2 << 40}, {"1Ki", 1024}} {
		if got, err := ParseSize(tt.in); err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "0", "-1Gi", "1G", "Gi", "99999999999Ti"} {
		if _, err := ParseSize(in); err == nil || !strings.Contains(err.Error(), "\""+in+"\"") {
			t.Errorf("ParseSize(%q): %v, want an error quoting the input", in, err)
		}
	}
}

func TestFormatSize(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   int64
		want string
	}{{0, "0 B"}, {512, "512 B"}, {1024, "1 KiB"}, {1 << 30, "1 GiB"}, {3 << 29, "1.5 GiB"}, {5 << 40, "5 TiB"}} {
		if got := FormatSize(tt.in); got != tt.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSecretsPerCallAndFlags(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secrets.yaml")
	if err := os.WriteFile(path, []byte("CreateVolumeSecret:\n  adminID: admin\n  adminKey: K1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := NewSecrets()
	if err := s.Flag().Set("extra=1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Load(path); err != nil {
		t.Fatal(err)
	}
	if got, want := s.For("CreateVolumeSecret"), map[string]string{"adminID": "admin", "adminKey": "K1", "extra": "1"}; !maps.Equal(got, want) {
		t.Errorf("CreateVolumeSecret = %v, want %v", got, want)
	}
	if got := s.For("DeleteVolumeSecret"); !maps.Equal(got, map[string]string{"extra": "1"}) {
		t.Errorf("a call the file does not name: %v", got)
	}
}

func TestSecretsErrorsHideValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"list.yaml":   "CreateVolumeSecret:\n  adminKey: [SECRETVALUE]\n",
		"broken.yaml": "adminKey: SECRETVALUE\n  : : [\n",
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		var s Secrets
		err := s.Load(path)
		if err == nil || strings.Contains(err.Error(), "SECRETVALUE") {
			t.Errorf("%s: error %v, want one without the secret", name, err)
		}
	}
}
