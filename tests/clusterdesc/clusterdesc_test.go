package clusterdesc

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// valid is a complete descriptor, as hack/cluster.sh writes it (fake key).
func valid() *Cluster {
	return &Cluster{
		Version: Version, Name: "cdtest", Dir: "/tmp/cd-test", Conf: "/tmp/cd-test/ceph.conf",
		Keyring: "/tmp/cd-test/keyring.admin", Mon: "127.0.0.1:3301", MonV2: "v2:127.0.0.1:3301",
		AdminKey: "AQBzZXJ2ZXIta2V5LW5vdC1yZWFsLTAwMDAwMA==", FSID: "0b6a7d2e-8f51-4c1e-9d3a-6f1d2b3c4e5f",
		FS: "myfs", Group: "csi", ExtraPool: "myfs-data1", Release: "pacific",
	}
}

// asMap is c as the generic JSON object, for tests that drop or change keys.
func asMap(t *testing.T, c *Cluster) map[string]any {
	t.Helper()
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// writeDesc writes content as DIR/cluster.json of a new directory.
func writeDesc(t *testing.T, content []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), content, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestLoad(t *testing.T) {
	with := func(key string, value any) []byte {
		m := asMap(t, valid())
		if value == nil {
			delete(m, key)
		} else {
			m[key] = value
		}
		return marshal(t, m)
	}
	without := func(keys ...string) []byte {
		m := asMap(t, valid())
		for _, k := range keys {
			delete(m, k)
		}
		return marshal(t, m)
	}
	tests := []struct {
		name    string
		content []byte // nil: no file
		wantErr []string
	}{
		{name: "valid", content: marshal(t, valid())},
		{name: "unknown field ignored", content: with("addedLater", "x")},
		{name: "no file", wantErr: []string{FileName, "hack/cluster.sh up"}},
		{name: "truncated", content: []byte(`{"version": 1, "name": "cdtest",`), wantErr: []string{FileName, "malformed JSON"}},
		{name: "not an object", content: []byte(`["v2:127.0.0.1:3300"]`), wantErr: []string{"malformed JSON"}},
		{name: "wrong type", content: with("version", "1"), wantErr: []string{"malformed JSON"}},
		{name: "no version", content: with("version", nil), wantErr: []string{"version 0, want 1"}},
		{name: "newer version", content: with("version", 2), wantErr: []string{"version 2, want 1"}},
		{name: "missing field", content: with("monV2", nil), wantErr: []string{FileName, `missing or empty field(s) "monV2"`}},
		{name: "empty field", content: with("adminKey", ""), wantErr: []string{`"adminKey"`}},
		{name: "two missing", content: without("fsid", "keyring"), wantErr: []string{`"keyring", "fsid"`}},
		{name: "empty file", content: []byte{}, wantErr: []string{"malformed JSON"}},
		{name: "plain monitor as monV2", content: with("monV2", "127.0.0.1:3301"), wantErr: []string{"not a msgr2 address"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.content != nil {
				dir = writeDesc(t, tt.content)
			}
			c, err := Load(dir)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(c, valid()) {
					t.Errorf("Load = %+v, want %+v", c, valid())
				}
				return
			}
			if err == nil {
				t.Fatalf("Load = %+v, want an error", c)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestLoadNoFileIsNotExist(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of an empty directory: %v, want fs.ErrNotExist", err)
	}
}

// Every field of the descriptor is required, and the error names it as
// the file spells it.
func TestEveryFieldRequired(t *testing.T) {
	for key := range asMap(t, valid()) {
		if key == "version" {
			continue // its own check, see TestLoad
		}
		t.Run(key, func(t *testing.T) {
			m := asMap(t, valid())
			delete(m, key)
			_, err := Load(writeDesc(t, marshal(t, m)))
			if err == nil || !strings.Contains(err.Error(), `"`+key+`"`) {
				t.Errorf("Load without %q: %v, want an error naming it", key, err)
			}
		})
	}
}

// A seed profile's descriptor names its EC pool; one without is refused.
func TestLoadSeedProfile(t *testing.T) {
	want := valid()
	want.Profile, want.ECPool = ProfileSeed, "myfs-data-ec"
	got, err := Load("testdata/seed")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(testdata/seed) = %+v, want %+v", got, want)
	}
	m := asMap(t, want)
	delete(m, "ecDataPool")
	if _, err := Load(writeDesc(t, marshal(t, m))); err == nil || !strings.Contains(err.Error(), `"ecDataPool"`) {
		t.Errorf("Load of a seed descriptor without its EC pool: %v, want an error naming it", err)
	}
}

// testdata/cluster.json is what hack/cluster.sh up wrote (key replaced), so
// a change of the script's format that the reader misses fails here.
func TestScriptOutput(t *testing.T) {
	c, err := Load("testdata")
	if err != nil {
		t.Fatal(err)
	}
	if want := valid(); !reflect.DeepEqual(c, want) {
		t.Errorf("Load(testdata) = %+v, want %+v", c, want)
	}
}

func TestRoundTrip(t *testing.T) {
	want := valid()
	got, err := Load(writeDesc(t, marshal(t, want)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(Marshal(c)) = %+v, want %+v", got, want)
	}
}
