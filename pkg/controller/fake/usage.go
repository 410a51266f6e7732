package fake

import (
	"context"
	"maps"
	"sort"
	"strings"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
)

// ListClaims implements controller.Session.
func (f *Session) ListClaims(_ context.Context, fsName string) ([]ceph.Claim, error) {
	if err := f.call("claim-list"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ceph.Claim
	// Unordered, as an object listing is.
	for k := range maps.Keys(f.Claims) {
		rest, ok := strings.CutPrefix(k, fsName+"/")
		if !ok {
			continue
		}
		group, name, _ := strings.Cut(rest, "/")
		out = append(out, ceph.Claim{Group: group, Subvolume: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Subvolume > out[j].Subvolume })
	return out, nil
}

// PoolUsages implements controller.Session: f.Usage, or every pool of
// f.Pools empty with 10 GiB available.
func (f *Session) PoolUsages(context.Context) (map[string]ceph.PoolUsage, error) {
	if err := f.call("df"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Usage != nil {
		return maps.Clone(f.Usage), nil
	}
	out := map[string]ceph.PoolUsage{}
	for _, p := range f.Pools {
		out[p] = ceph.PoolUsage{MaxAvail: 10 << 30}
	}
	return out, nil
}

// SubvolumeClaimed implements controller.Session.
func (f *Session) SubvolumeClaimed(_ context.Context, fsName, group, name string) (bool, error) {
	if err := f.call("claim-stat"); err != nil {
		return false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.Claims[key(fsName, group, name)]
	return ok, nil
}
