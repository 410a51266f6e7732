package fake

import (
	"context"
	"fmt"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// FilesystemByID implements controller.Session: filesystem 1 is "myfs".
func (f *Session) FilesystemByID(_ context.Context, id int64) (string, error) {
	if err := f.call("fs-dump"); err != nil {
		return "", err
	}
	if id != 1 {
		return "", fmt.Errorf("filesystem %d: %w", id, contract.ErrNotFound)
	}
	return "myfs", nil
}

// CephCSIEntry implements controller.Session from CephCSI, keyed by uuid.
func (f *Session) CephCSIEntry(_ context.Context, _, _ string, _ ceph.CephCSIKind, uuid string) (*ceph.CephCSIEntry, error) {
	if err := f.call("cephcsi-read"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.CephCSI[uuid]
	if !ok {
		return nil, fmt.Errorf("journal of %s: %w", uuid, contract.ErrNotFound)
	}
	return &v, nil
}

// RemoveCephCSIEntry implements controller.Session.
func (f *Session) RemoveCephCSIEntry(_ context.Context, _, _ string, _ ceph.CephCSIKind, uuid string, _ *ceph.CephCSIEntry) error {
	if err := f.call("cephcsi-rm"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.CephCSI, uuid)
	delete(f.DanglingCephCSI, uuid)
	return nil
}

// CephCSIShallowVolumes implements controller.Session: ceph-csi's shallow
// volumes are the journal's entries whose BackingSnapshot is the handle.
func (f *Session) CephCSIShallowVolumes(_ context.Context, _, _, handle string) ([]string, error) {
	if err := f.call("cephcsi-reftracker"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for uuid, e := range f.CephCSI {
		if e.BackingSnapshot == handle {
			out = append(out, uuid)
		}
	}
	return out, nil
}

// RemoveCephCSIRefTracker implements controller.Session.
func (f *Session) RemoveCephCSIRefTracker(context.Context, string, string, string) error {
	return f.call("cephcsi-reftracker-rm")
}

// FilesystemID implements controller.Session: "myfs" is filesystem 1.
func (f *Session) FilesystemID(_ context.Context, name string) (int64, error) {
	if err := f.call("fs-dump"); err != nil {
		return 0, err
	}
	if name != "myfs" {
		return 0, fmt.Errorf("filesystem %s: %w", name, contract.ErrNotFound)
	}
	return 1, nil
}

// CephCSIVolumeUUIDs implements controller.Session: the journal's entries
// that are volumes (no snapshot source).
func (f *Session) CephCSIVolumeUUIDs(context.Context, string, string) ([]string, error) {
	if err := f.call("cephcsi-list"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for uuid, e := range f.CephCSI {
		if e.Source == "" {
			out = append(out, uuid)
		}
	}
	return out, nil
}
