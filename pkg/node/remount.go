package node

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/mounter"
)

// stagedMounts remembers, in memory only, how each staging path was
// mounted, so that NodePublish can mount it again when its client died
// under it (ceph-fuse ended with the mount holder's pod, or killed; an
// evicted kernel client): the kubelet calls NodeStage only for a volume it
// believes unstaged, so a new pod would otherwise never get the volume
// while another pod on the node keeps it staged. The credentials in it
// never reach a disk; after a restart of the node plugin it is empty.
type stagedMounts struct {
	mu     sync.Mutex
	byPath map[string]stagedMount
}

type stagedMount struct {
	volumeID string
	mounter  mounter.Mounter
	req      mounter.Request
}

func (s *stagedMounts) remember(path string, m stagedMount) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byPath == nil {
		s.byPath = map[string]stagedMount{}
	}
	s.byPath[path] = m
}

func (s *stagedMounts) forget(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byPath, path)
}

func (s *stagedMounts) lookup(path string) (stagedMount, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.byPath[path]
	return m, ok
}

// restage mounts the staging path of a volume again, for NodePublish, with
// what NodeStage mounted it with. Without that (the node plugin restarted
// since NodeStage) it says so: the volume is staged again only once no pod
// on the node uses it.
func (s *Server) restage(ctx context.Context, volumeID, staging string) error {
	held, ok := s.staged.lookup(staging)
	if !ok || held.volumeID != volumeID {
		return fmt.Errorf("%w: volume %s is not staged at %s: its mount is gone, and this node plugin has no credentials "+
			"to mount it again (it started after NodeStage); the kubelet stages it again once no pod on this node uses it",
			contract.ErrFailedPrecondition, volumeID, staging)
	}
	release, err := s.inFlight.Acquire(volumeID)
	if err != nil {
		return err
	}
	stillRunning := false
	defer func() {
		if !stillRunning {
			release()
		}
	}()
	if err := os.MkdirAll(staging, 0o750); err != nil {
		return fmt.Errorf("create staging path: %w", err)
	}
	start := time.Now()
	stillRunning, err = s.runBounded(ctx, release, func(ctx context.Context) error {
		return held.mounter.Mount(ctx, held.req, staging)
	})
	if err != nil {
		return fmt.Errorf("mount %s again at %s: %w", volumeID, staging, err)
	}
	klog.FromContext(ctx).Info("Mounted a dead staging mount again", "volume", volumeID, "staging", staging,
		"mounter", held.mounter.Name(), "took", time.Since(start))
	return nil
}
