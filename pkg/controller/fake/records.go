package fake

import (
	"context"
	"fmt"
	"strings"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// Filesystems implements controller.Session.
func (f *Session) Filesystems(context.Context) ([]string, error) {
	return []string{"myfs"}, f.call("fs-ls")
}

// PutRecord implements controller.Session.
func (f *Session) PutRecord(_ context.Context, fsName, k string, v []byte) error {
	if err := f.call("record-put"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Records == nil {
		f.Records = map[string][]byte{}
	}
	f.Records[fsName+"/"+k] = v
	return nil
}

// GetRecord implements controller.Session.
func (f *Session) GetRecord(_ context.Context, fsName, k string) ([]byte, error) {
	if err := f.call("record-get"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.Records[fsName+"/"+k]
	if !ok {
		return nil, fmt.Errorf("record %s: %w", k, contract.ErrNotFound)
	}
	return v, nil
}

// ListRecords implements controller.Session.
func (f *Session) ListRecords(_ context.Context, fsName string) (map[string][]byte, error) {
	if err := f.call("record-list"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range f.Records {
		if name, ok := strings.CutPrefix(k, fsName+"/"); ok {
			out[name] = v
		}
	}
	return out, nil
}

// DeleteRecord implements controller.Session.
func (f *Session) DeleteRecord(_ context.Context, fsName, k string) error {
	if err := f.call("record-rm"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.Records, fsName+"/"+k)
	return nil
}

// PutReference implements controller.Session.
func (f *Session) PutReference(_ context.Context, fsName, k string, v []byte) error {
	if err := f.call("reference-put"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.References == nil {
		f.References = map[string][]byte{}
	}
	f.References[fsName+"/"+k] = v
	return nil
}

// GetReference implements controller.Session.
func (f *Session) GetReference(_ context.Context, fsName, k string) ([]byte, error) {
	if err := f.call("reference-get"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.References[fsName+"/"+k]
	if !ok {
		return nil, fmt.Errorf("reference %s: %w", k, contract.ErrNotFound)
	}
	return v, nil
}

// ListReferences implements controller.Session.
func (f *Session) ListReferences(_ context.Context, fsName string) (map[string][]byte, error) {
	if err := f.call("reference-list"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range f.References {
		if name, ok := strings.CutPrefix(k, fsName+"/"); ok {
			out[name] = v
		}
	}
	return out, nil
}

// DeleteReference implements controller.Session.
func (f *Session) DeleteReference(_ context.Context, fsName, k string) error {
	if err := f.call("reference-rm"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.References, fsName+"/"+k)
	return nil
}
