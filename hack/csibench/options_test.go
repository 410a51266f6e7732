package main

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	o, err := parseOptions([]string{"--endpoint", "unix:///x.sock"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Count != 40 || !slices.Equal(o.Concurrency, []int{1, 8, 32}) || o.DataMiB != 256 || o.Scale != 500 ||
		o.Capacity != 1<<30 || o.Timeout != 2*time.Minute || o.ClusterConfig != "" || o.Prefix != "csibench" {
		t.Errorf("defaults: %+v", o)
	}
}

func TestOptionsFiles(t *testing.T) {
	t.Parallel()
	// runconfig's files: csi-sanity's secrets, flat parameters.
	secrets := writeTemp(t, "CreateVolumeSecret:\n  adminID: admin\n  adminKey: K1\nNodeStageVolumeSecret:\n  userID: u\n  userKey: K2\n")
	params := writeTemp(t, "clusterID: embedded\nfsName: myfs\nsubvolumeGroup: 7\n")
	o, err := parseOptions([]string{"--endpoint", "unix:///x.sock", "--secrets", secrets, "--parameters", params,
		"--param", "fsName=other", "--secret", "extra=1", "--snapshot-param", "snapshotNamePrefix=b-"})
	if err != nil {
		t.Fatal(err)
	}
	wantParams := map[string]string{"clusterID": "embedded", "fsName": "other", "subvolumeGroup": "7"}
	if !maps.Equal(o.Params, wantParams) {
		t.Errorf("params = %v, want %v (flags win over the file)", o.Params, wantParams)
	}
	if o.ClusterID != "embedded" || o.FSName != "other" || o.Group != "7" {
		t.Errorf("floor's cluster/fs/group from the parameters: %q %q %q", o.ClusterID, o.FSName, o.Group)
	}
	if got, want := o.Secrets.For("CreateVolumeSecret"), map[string]string{"adminID": "admin", "adminKey": "K1", "extra": "1"}; !maps.Equal(got, want) {
		t.Errorf("CreateVolumeSecret = %v, want %v", got, want)
	}
	if got, want := o.Secrets.For("NodeStageVolumeSecret"), map[string]string{"userID": "u", "userKey": "K2", "extra": "1"}; !maps.Equal(got, want) {
		t.Errorf("NodeStageVolumeSecret = %v, want %v", got, want)
	}
	if got, want := o.Secrets.For("DeleteVolumeSecret"), map[string]string{"extra": "1"}; !maps.Equal(got, want) {
		t.Errorf("a call the file does not name gets the flags' secrets only: %v", got)
	}
	if !maps.Equal(o.SnapParams, map[string]string{"snapshotNamePrefix": "b-"}) {
		t.Errorf("snapshot params = %v", o.SnapParams)
	}
}

func TestOptionsFlatSecrets(t *testing.T) {
	t.Parallel()
	path := writeTemp(t, "adminID: admin\nadminKey: K1\n")
	o, err := parseOptions([]string{"--endpoint", "unix:///x.sock", "--secrets", path, "--secret", "adminKey=K9"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := o.Secrets.For("NodeStageVolumeSecret"), map[string]string{"adminID": "admin", "adminKey": "K9"}; !maps.Equal(got, want) {
		t.Errorf("flat file for every call, the flag winning: %v, want %v", got, want)
	}
}

func TestOptionsErrors(t *testing.T) {
	t.Parallel()
	badSecrets := writeTemp(t, "CreateVolumeSecret:\n  adminKey: [SECRETVALUE]\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no endpoint", nil, "--endpoint is required"},
		{"bad concurrency", []string{"--concurrency", "1,x"}, "--concurrency"},
		{"zero concurrency", []string{"--concurrency", "0"}, "--concurrency"},
		{"bad capacity", []string{"--capacity", "1G"}, "--capacity"},
		{"capacity too small for the data", []string{"--capacity", "100Mi", "--data-mib", "64"}, "cannot hold"},
		{"zero count", []string{"--count", "0"}, "at least 1"},
		{"bad param", []string{"--param", "novalue"}, "key=value"},
		{"missing file", []string{"--secrets", "/nonexistent/secrets.yaml"}, "no such file"},
		{"a secret that is not a string", []string{"--secrets", badSecrets}, "adminKey: want a string"},
		{"arguments", []string{"extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := tt.args
			if tt.name != "no endpoint" {
				args = append([]string{"--endpoint", "unix:///x.sock"}, args...)
			}
			_, err := parseOptions(args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "SECRETVALUE") {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
}
