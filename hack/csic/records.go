package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// record is what csic keeps of a volume it created, as a PersistentVolume
// would: the ID and the volume context that staging needs. It holds no
// secret.
type record struct {
	Name          string            `json:"name"`
	VolumeID      string            `json:"volumeID"`
	CapacityBytes int64             `json:"capacityBytes"`
	VolumeContext map[string]string `json:"volumeContext,omitempty"`
}

// validName is a volume name csic can remember: also its file name.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// snapshotRecord is what csic keeps of a snapshot it took.
type snapshotRecord struct {
	Name           string `json:"name"`
	SnapshotID     string `json:"snapshotID"`
	SourceVolumeID string `json:"sourceVolumeID"`
}

// The kinds of record, each a directory of NAME.json files.
const (
	volumes   = "volumes"
	snapshots = "snapshots"
)

func (c *client) recordPath(kind, name string) string {
	return filepath.Join(c.state, kind, name+".json")
}

func (c *client) save(kind, name string, v any) error {
	path := c.recordPath(kind, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o600)
}

// load reads a record; a name csic does not know is no error.
func (c *client) load(kind, name string, v any) (bool, error) {
	if !validName.MatchString(name) {
		return false, nil
	}
	data, err := os.ReadFile(c.recordPath(kind, name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("%s: %w", c.recordPath(kind, name), err)
	}
	return true, nil
}

// forget drops the record of something deleted.
func (c *client) forget(kind, name string) error {
	if name == "" {
		return nil
	}
	if err := os.Remove(c.recordPath(kind, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// records lists the volumes csic remembers.
func (c *client) records() ([]record, error) {
	paths, err := filepath.Glob(filepath.Join(c.state, volumes, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []record
	for _, p := range paths {
		var r record
		if _, err := c.load(volumes, strings.TrimSuffix(filepath.Base(p), ".json"), &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// volume resolves a command's volume argument: a name csic remembers, else
// a volume ID (with its record's context when csic created it).
func (c *client) volume(arg string) (record, error) {
	var r record
	if found, err := c.load(volumes, arg, &r); found || err != nil {
		return r, err
	}
	all, err := c.records()
	if err != nil {
		return record{}, err
	}
	for _, r := range all {
		if r.VolumeID == arg {
			return r, nil
		}
	}
	return record{VolumeID: arg}, nil
}

// snapshot resolves a snapshot argument: a name csic remembers, else a
// snapshot ID.
func (c *client) snapshot(arg string) (snapshotRecord, error) {
	var r snapshotRecord
	if found, err := c.load(snapshots, arg, &r); found || err != nil {
		return r, err
	}
	paths, err := filepath.Glob(filepath.Join(c.state, snapshots, "*.json"))
	if err != nil {
		return r, err
	}
	for _, p := range paths {
		var r snapshotRecord
		if _, err := c.load(snapshots, strings.TrimSuffix(filepath.Base(p), ".json"), &r); err != nil {
			return r, err
		}
		if r.SnapshotID == arg {
			return r, nil
		}
	}
	return snapshotRecord{SnapshotID: arg}, nil
}

// stagingPath is where mount stages a volume: one directory per volume ID,
// as the kubelet keeps one per volume.
func (c *client) stagingPath(volumeID string) string {
	sum := sha256.Sum256([]byte(volumeID))
	return filepath.Join(c.state, "staging", hex.EncodeToString(sum[:8]))
}

// label names a volume in messages: its name and ID, or its ID.
func (r record) label() string { return label(r.Name, r.VolumeID) }

func (r snapshotRecord) label() string { return label(r.Name, r.SnapshotID) }

func label(name, id string) string {
	if name == "" {
		return id
	}
	return name + " (" + id + ")"
}
