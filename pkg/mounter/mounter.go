// Package mounter mounts a CephFS path with ceph-fuse or the kernel client.
// Both take the CephX key from a 0600 file in a tmpfs-backed directory that
// exists only while the mount command runs: the key is never on a command
// line, never logged, never left on disk.
package mounter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// Request describes one mount of a CephFS path.
type Request struct {
	// VolumeID names the volume mounted; no mounter uses it, the mount
	// holder keeps it for a node plugin that restarts (Held).
	VolumeID string
	Monitors []string // plain addresses (config.Cluster.MonitorAddrs)
	// Msgr2Monitors are those of Monitors that speak msgr2
	// (config.Cluster.Msgr2Addrs).
	Msgr2Monitors []string
	FSName        string
	Path          string // path inside the filesystem (the subvolume root)
	Creds         contract.Credentials
	Options       []string // validated extra options
}

// Mounter mounts a Request on a target directory.
type Mounter interface {
	Name() string
	Mount(ctx context.Context, req Request, target string) error
}

// writeKeyFile writes content into a new 0600 file in dir and returns its
// path and a function that removes it.
func writeKeyFile(dir, pattern, content string) (string, func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("key directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", nil, fmt.Errorf("key file in %s: %w", dir, err)
	}
	remove := func() { _ = os.Remove(f.Name()) }
	// CreateTemp makes the file 0600; chmod again in case of an odd umask.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		remove()
		return "", nil, fmt.Errorf("key file: %w", err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		remove()
		return "", nil, fmt.Errorf("key file: %w", err)
	}
	if err := f.Close(); err != nil {
		remove()
		return "", nil, fmt.Errorf("key file: %w", err)
	}
	return filepath.Clean(f.Name()), remove, nil
}

// Key file name patterns; RemoveKeyFiles knows them.
const (
	keyringPattern = "keyring-*"
	secretPattern  = "secret-*"
)

// RemoveKeyFiles deletes key files a crashed driver may have left in dir
// (each lives only while its mount command runs) and returns how many.
func RemoveKeyFiles(dir string) (int, error) {
	n := 0
	for _, pattern := range []string{keyringPattern, secretPattern} {
		matches, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return n, err
		}
		for _, m := range matches {
			if err := os.Remove(m); err != nil && !os.IsNotExist(err) {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
