package fake

import (
	"context"
	"maps"
)

// SetSubvolumeMetadata implements controller.Session (operation "metadata").
func (f *Session) SetSubvolumeMetadata(_ context.Context, fsName, group, name string, md map[string]string) error {
	return f.setMetadata(key(fsName, group, name), md)
}

// SetSnapshotMetadata implements controller.Session (operation "metadata").
func (f *Session) SetSnapshotMetadata(_ context.Context, fsName, group, subvolume, snapshot string, md map[string]string) error {
	return f.setMetadata(key(fsName, group, subvolume)+"@"+snapshot, md)
}

func (f *Session) setMetadata(k string, md map[string]string) error {
	if err := f.call("metadata"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Metadata == nil {
		f.Metadata = map[string]map[string]string{}
	}
	if f.Metadata[k] == nil {
		f.Metadata[k] = map[string]string{}
	}
	maps.Copy(f.Metadata[k], md)
	return nil
}
