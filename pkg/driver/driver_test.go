package driver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewRejects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "config.json")
	if err := os.WriteFile(good, []byte(`[{"clusterID":"a","monitors":["127.0.0.1:1"]}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`[{"clusterID":""}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	base := func() Options {
		o := DefaultOptions()
		o.Endpoint = "unix://" + filepath.Join(t.TempDir(), "csi.sock")
		o.ClusterConfig = good
		o.Mode = ModeController
		return o
	}
	tests := []struct {
		name   string
		modify func(*Options)
		want   string
	}{
		{"bad mode", func(o *Options) { o.Mode = "both" }, `--mode="both"`},
		{"missing config", func(o *Options) { o.ClusterConfig = filepath.Join(dir, "nope.json") }, "nope.json: open"},
		{"malformed config", func(o *Options) { o.ClusterConfig = bad }, "bad.json: entry 0: clusterID is empty"},
		{"relative socket", func(o *Options) { o.Endpoint = "unix://csi.sock" }, "must be absolute"},
		{"empty name", func(o *Options) { o.DriverName = "" }, "--drivername"},
		{"bad mounter", func(o *Options) { o.Mode = ModeNode; o.DefaultMounter = "nfs" }, "default mounter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := base()
			tt.modify(&o)
			d, err := New(o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() error = %v, want containing %q", err, tt.want)
			}
			if d != nil {
				t.Fatal("driver returned with an error")
			}
		})
	}
	// A valid controller starts and its socket is removed on close.
	o := base()
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	d.server.Close()
	if _, err := os.Stat(strings.TrimPrefix(o.Endpoint, "unix://")); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}
