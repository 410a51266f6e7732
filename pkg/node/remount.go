package node

import (
	"context"
	"fmt"
	"os"
	"slices"
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
// never reach a disk; after a restart of the node plugin it holds only what
// Relearn got back from the mount holder.
type stagedMounts struct {
	mu     sync.Mutex
	byPath map[string]stagedMount
}

type stagedMount struct {
	volumeID string
	mounter  mounter.Mounter
	req      mounter.Request
	// snapshot is, for a shallow volume ceph-csi made, its snapshot's
	// name (looked up at NodeStage).
	snapshot string
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

// rememberIfNew keeps m unless path is known already (a NodeStage since
// is newer than what a holder lists).
func (s *stagedMounts) rememberIfNew(path string, m stagedMount) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, known := s.byPath[path]; known {
		return false
	}
	if s.byPath == nil {
		s.byPath = map[string]stagedMount{}
	}
	s.byPath[path] = m
	return true
}

func (s *stagedMounts) lookup(path string) (stagedMount, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.byPath[path]
	return m, ok
}

// pathsOf returns the staging paths of a volume, sorted.
func (s *stagedMounts) pathsOf(volumeID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for p, m := range s.byPath {
		if m.volumeID == volumeID {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// heldLister is a mounter whose mounts live in another process, which
// can tell what each was made with (mounter.Fuse with a mount holder).
type heldLister interface {
	Held(ctx context.Context) ([]mounter.Held, error)
}

// Relearn remembers the staging mounts that outlive this process (the
// mount holder's) with what they were made with, so that NodePublish can
// mount one again after its ceph-fuse died — the holder's pod deleted
// after this plugin restarted. It returns how many it learned.
func (s *Server) Relearn(ctx context.Context) (int, error) {
	learned := 0
	for _, m := range s.mounters {
		lister, ok := m.(heldLister)
		if !ok {
			continue
		}
		held, err := lister.Held(ctx)
		if err != nil {
			return learned, fmt.Errorf("list the %s mounts held for this node: %w", m.Name(), err)
		}
		for _, h := range held {
			if h.Request.VolumeID == "" {
				continue // from a node plugin that did not say
			}
			if s.staged.rememberIfNew(h.Target, stagedMount{volumeID: h.Request.VolumeID, mounter: m, req: h.Request}) {
				learned++
			}
		}
	}
	return learned, nil
}

// restage mounts the staging path of a volume again, for NodePublish, with
// what NodeStage mounted it with. Without that (the node plugin restarted
// since NodeStage) it says so: the volume is staged again only once no pod
// on the node uses it.
func (s *Server) restage(ctx context.Context, volumeID, staging string) error {
	held, ok := s.staged.lookup(staging)
	if !ok || held.volumeID != volumeID {
		return fmt.Errorf("%w: volume %s is not staged at %s: its mount is gone, and this node plugin has no credentials "+
			"to mount it again (it started after NodeStage, and no mount holder kept them); the kubelet stages it again "+
			"once no pod on this node uses it",
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
