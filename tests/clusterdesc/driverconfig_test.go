package clusterdesc

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestWriteDriverConfig(t *testing.T) {
	other := valid()
	other.MonV2, other.Group = "v2:127.0.0.1:3302", "other"
	tests := []struct {
		name     string
		clusters map[string]*Cluster
		want     []driverCluster
		wantErr  string
	}{
		{
			name:     "one cluster",
			clusters: map[string]*Cluster{"embedded": valid()},
			want:     []driverCluster{{"embedded", []string{"v2:127.0.0.1:3301"}, driverCephFS{"csi"}}},
		},
		{
			name:     "sorted by ID",
			clusters: map[string]*Cluster{"shared": valid(), "fault": other},
			want: []driverCluster{
				{"fault", []string{"v2:127.0.0.1:3302"}, driverCephFS{"other"}},
				{"shared", []string{"v2:127.0.0.1:3301"}, driverCephFS{"csi"}},
			},
		},
		{name: "no clusters", clusters: map[string]*Cluster{}, wantErr: "no clusters"},
		{name: "nil cluster", clusters: map[string]*Cluster{"x": nil}, wantErr: `cluster "x"`},
		{name: "empty ID", clusters: map[string]*Cluster{"": valid()}, wantErr: "empty cluster ID"},
		{name: "no msgr2 monitor", clusters: map[string]*Cluster{"x": {Group: "csi"}}, wantErr: "msgr2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config.json")
			err := WriteDriverConfig(path, tt.clusters)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("WriteDriverConfig: %v, want an error naming %s and containing %q", err, path, tt.wantErr)
				}
				if left, _ := os.ReadDir(dir); len(left) != 0 {
					t.Errorf("files left after a failure: %v", left)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var got []driverCluster
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("config = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// The config is the driver's format: the keys it reads, spelled its way.
func TestWriteDriverConfigFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := WriteDriverConfig(path, map[string]*Cluster{"embedded": valid()}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := []any{map[string]any{
		"clusterID": "embedded",
		"monitors":  []any{"v2:127.0.0.1:3301"},
		"cephFS":    map[string]any{"subvolumeGroup": "csi"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config = %s, want %v", data, want)
	}
}

// An existing config of another mode is replaced by a 0600 one, and no
// temporary file stays behind.
func TestWriteDriverConfigReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteDriverConfig(path, map[string]*Cluster{"embedded": valid()}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %v, want only config.json", entries)
	}
}
