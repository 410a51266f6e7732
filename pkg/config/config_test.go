package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{name: "ceph-csi format with extra keys", doc: `[{"clusterID":"rook-ceph","monitors":["10.0.0.1:6789","10.0.0.2:6789"],"cephFS":{"subvolumeGroup":"grp","netNamespaceFilePath":""},"rbd":{"radosNamespace":"x"},"readAffinity":{"enabled":false}}]`},
		{name: "empty list", doc: `[]`},
		{name: "not json", doc: `{`, wantErr: "not a JSON list"},
		{name: "object instead of list", doc: `{"clusterID":"a"}`, wantErr: "not a JSON list"},
		{name: "missing id", doc: `[{"monitors":["m"]}]`, wantErr: "entry 0: clusterID is empty"},
		{name: "duplicate id", doc: `[{"clusterID":"a","monitors":["m"]},{"clusterID":"a","monitors":["m"]}]`, wantErr: `clusterID "a" appears twice`},
		{name: "no monitors", doc: `[{"clusterID":"a","monitors":[" "]}]`, wantErr: `cluster "a": no monitors`},
		{name: "injected monitor", doc: `[{"clusterID":"a","monitors":["1.2.3.4,5.6.7.8"]}]`, wantErr: "unexpected character"},
		{name: "null entry", doc: `[null]`, wantErr: "entry 0: null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.doc))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`[{"clusterID":"b","monitors":["m1:3300"," m2:3300 "],"cephFS":{"subvolumeGroup":"g"}},{"clusterID":"a","monitors":["x"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Cluster("b")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.MonHost(); got != "m1:3300,m2:3300" {
		t.Errorf("MonHost = %q", got)
	}
	if c.CephFS.SubvolumeGroup != "g" {
		t.Errorf("group = %q", c.CephFS.SubvolumeGroup)
	}
	if _, err := cfg.Cluster("zzz"); !errors.Is(err, ErrUnknownCluster) {
		t.Errorf("unknown cluster error = %v", err)
	}
	if ids := cfg.Clusters(); len(ids) != 2 || ids[0].ClusterID != "b" {
		t.Errorf("Clusters() order wrong: %+v", ids)
	}
}

func TestLoadNamesFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.json")
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file error = %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("[{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("malformed file error = %v", err)
	}
}

func TestMonitorAddrs(t *testing.T) {
	t.Parallel()
	c := &Cluster{Monitors: []string{"10.0.0.1:6789", "v2:10.0.0.2:3300", "[v2:10.0.0.3:3300/0,v1:10.0.0.3:6789/0]", "mon-a", "[::1]:3300"}}
	want := []string{"10.0.0.1:6789", "10.0.0.2:3300", "10.0.0.3:3300", "10.0.0.3:6789", "mon-a", "[::1]:3300"}
	if got := c.MonitorAddrs(); !slices.Equal(got, want) {
		t.Errorf("MonitorAddrs() = %v, want %v", got, want)
	}
	// msgr2: the v2: ones and an unmarked one on 3300, not v1:…:3300.
	c.Monitors = append(c.Monitors, "v1:10.0.0.4:3300", "V2:10.0.0.5:3301")
	want2 := []string{"10.0.0.2:3300", "10.0.0.3:3300", "[::1]:3300", "10.0.0.5:3301"}
	if got := c.Msgr2Addrs(); !slices.Equal(got, want2) {
		t.Errorf("Msgr2Addrs() = %v, want %v", got, want2)
	}
}

func TestSubvolumeGroup(t *testing.T) {
	t.Parallel()
	if g := (&Cluster{}).SubvolumeGroup(); g != "csi" {
		t.Errorf("default group %q", g)
	}
	if g := (&Cluster{CephFS: CephFS{SubvolumeGroup: "g"}}).SubvolumeGroup(); g != "g" {
		t.Errorf("configured group %q", g)
	}
}
