package ceph

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/ceph/go-ceph/cephfs/admin"
)

// TestReplaySetMetadata: metadata is set with the very command each release
// answered; a mgr without the command (the answer Pacific and Reef give to
// `fs subvolume snapshot getpath`, which they lack) is ErrMetadataUnsupported
// and is not asked again.
func TestReplaySetMetadata(t *testing.T) {
	t.Parallel()
	forEachRelease(t, func(t *testing.T, r *replayRelease) {
		c := r.get(t, "metadata_set")
		a, _ := newReplayAdmin(t, r, "metadata_set")
		err := a.SetSubvolumeMetadata(replayCtx(t), c.sub("vol_name"), c.sub("group_name"), c.sub("sub_name"), map[string]string{c.sub("key_name"): c.sub("value")})
		checkErr(t, "set metadata", err, nil)
	})
	t.Run("unsupported", func(t *testing.T) {
		t.Parallel()
		r := loadReplayRelease(t, "pacific")
		missing := r.get(t, "snapshot_getpath") // a command Pacific lacks
		set := *r.get(t, "metadata_set")
		set.Name, set.RC = "metadata_set_unsupported", missing.RC
		set.Status = strings.Replace(missing.Status, missing.sub("prefix"), set.sub("prefix"), 1)
		if set.Status == missing.Status || set.RC == 0 {
			t.Fatalf("no missing-command answer to build on: %+v", missing)
		}
		conn := &replayConn{t: t, rel: r.name, caps: []*replayCapture{&set}, used: map[string]int{}}
		a, _ := newReplayAdmin(t, r)
		a.fsa, a.mgr = admin.NewFromConn(conn), conn
		md := map[string]string{set.sub("key_name"): set.sub("value")}
		for i := range 2 {
			err := a.SetSubvolumeMetadata(replayCtx(t), set.sub("vol_name"), set.sub("group_name"), set.sub("sub_name"), maps.Clone(md))
			if !errors.Is(err, ErrMetadataUnsupported) {
				t.Errorf("call %d: %v, want ErrMetadataUnsupported", i, err)
			}
		}
		if n := conn.calls(set.Name); n != 1 {
			t.Errorf("the mgr was asked %d times, want once", n)
		}
	})
}
