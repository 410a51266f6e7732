package ceph

// Replay tests: the driver's mgr and mon commands answered with what real
// clusters of each supported Ceph release answered. hack/capture-ceph.sh
// RELEASE pkg/ceph/testdata/releases/RELEASE records them: one JSON file per
// command holding the exact command (as go-ceph v0.37.0 or pkg/ceph builds
// it), the output buffer, the status string and librados' return code, as
// the host's Pacific librados (the driver's) received them. The fake below
// answers a command only when it is field for field the one captured, so
// these tests also check that the driver still sends what was captured.
//
// Timestamps, uuids and ports in the captures vary from run to run: no test
// depends on their values.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ceph/go-ceph/cephfs/admin"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// replayReleases are the releases with captures, oldest first.
var replayReleases = []string{"pacific", "reef", "tentacle"}

// replayCapture is one captured command and its answer.
type replayCapture struct {
	Name   string         `json:"name"`
	Target string         `json:"target"` // "mgr" or "mon"
	Cmd    map[string]any `json:"cmd"`
	RC     int            `json:"rc"` // librados' return code: 0 or -errno
	Out    string         `json:"out"`
	Status string         `json:"status"`
	// The same command through the host's ceph CLI and, for newer
	// releases, the release's own CLI ("same as host_cli" when equal).
	HostCLI    *replayCLI      `json:"host_cli"`
	ReleaseCLI json.RawMessage `json:"release_cli"`
}

type replayCLI struct {
	Argv   []string `json:"argv"`
	RC     int      `json:"rc"`
	Stdout string   `json:"stdout"`
	Stderr string   `json:"stderr"`
}

// sub returns a string field of the captured command.
func (c *replayCapture) sub(key string) string {
	s, _ := c.Cmd[key].(string)
	return s
}

// outJSON decodes the output buffer as a JSON object.
func (c *replayCapture) outJSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(c.Out), &m); err != nil {
		t.Fatalf("%s: output is not a JSON object: %v\n%s", c.Name, err, c.Out)
	}
	return m
}

type replayRelease struct {
	name string
	caps map[string]*replayCapture
	// commands in the order they ran (capture.json)
	order []string
}

func (r *replayRelease) has(name string) bool { _, ok := r.caps[name]; return ok }

func (r *replayRelease) get(t *testing.T, name string) *replayCapture {
	t.Helper()
	c, ok := r.caps[name]
	if !ok {
		t.Fatalf("%s: no capture %s in testdata/releases/%s (run hack/capture-ceph.sh %s pkg/ceph/testdata/releases/%s)", r.name, name, r.name, r.name, r.name)
	}
	return c
}

var replayLoaded sync.Map // release -> func() (*replayRelease, error)

func loadReplayRelease(t *testing.T, rel string) *replayRelease {
	t.Helper()
	f, _ := replayLoaded.LoadOrStore(rel, sync.OnceValues(func() (*replayRelease, error) { return readReplayRelease(rel) }))
	r, err := f.(func() (*replayRelease, error))()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func readReplayRelease(rel string) (*replayRelease, error) {
	dir := filepath.Join("testdata", "releases", rel)
	var manifest struct {
		Release  string   `json:"release"`
		Commands []string `json:"commands"`
	}
	buf, err := os.ReadFile(filepath.Join(dir, "capture.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(buf, &manifest); err != nil {
		return nil, fmt.Errorf("%s/capture.json: %w", dir, err)
	}
	if manifest.Release != rel {
		return nil, fmt.Errorf("%s/capture.json is of release %q", dir, manifest.Release)
	}
	r := &replayRelease{name: rel, caps: map[string]*replayCapture{}, order: manifest.Commands}
	for _, name := range manifest.Commands {
		buf, err := os.ReadFile(filepath.Join(dir, name+".json"))
		if err != nil {
			return nil, err
		}
		c := &replayCapture{}
		if err := json.Unmarshal(buf, c); err != nil {
			return nil, fmt.Errorf("%s/%s.json: %w", dir, name, err)
		}
		if c.Name != name || (c.Target != "mgr" && c.Target != "mon") || c.Cmd["prefix"] == nil || c.RC > 0 {
			return nil, fmt.Errorf("%s/%s.json: malformed capture", dir, name)
		}
		r.caps[name] = c
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) != len(r.caps)+1 {
		return nil, fmt.Errorf("%s: %d files, but capture.json names %d commands", dir, len(files), len(r.caps))
	}
	return r, nil
}

// replayErrno is a librados error as go-ceph returns it: ErrorCode() is the
// negative return code.
type replayErrno int

func (e replayErrno) Error() string {
	return fmt.Sprintf("rados: ret=%d, %s", int(e), syscall.Errno(-e).Error())
}
func (e replayErrno) ErrorCode() int { return int(e) }

// replayConn implements go-ceph's admin.RadosCommander from captures: it
// answers a command with the capture (among those it was given) whose
// command is exactly the same.
type replayConn struct {
	t    *testing.T
	rel  string
	caps []*replayCapture
	mu   sync.Mutex
	used map[string]int
}

var _ admin.RadosCommander = (*replayConn)(nil)

func (c *replayConn) MgrCommand(buf [][]byte) ([]byte, string, error) {
	if len(buf) != 1 {
		c.t.Errorf("%s: mgr command in %d buffers", c.rel, len(buf))
		return nil, "", replayErrno(-int(syscall.EINVAL))
	}
	return c.answer("mgr", buf[0])
}

func (c *replayConn) MonCommand(buf []byte) ([]byte, string, error) {
	return c.answer("mon", buf)
}

func (c *replayConn) answer(target string, buf []byte) ([]byte, string, error) {
	var req map[string]any
	if err := json.Unmarshal(buf, &req); err != nil {
		c.t.Errorf("%s: %s command is not JSON: %s", c.rel, target, buf)
		return nil, "", replayErrno(-int(syscall.EINVAL))
	}
	names := make([]string, 0, len(c.caps))
	for _, cp := range c.caps {
		if cp.Target == target && reflect.DeepEqual(cp.Cmd, req) {
			c.mu.Lock()
			c.used[cp.Name]++
			c.mu.Unlock()
			var err error
			if cp.RC != 0 {
				err = replayErrno(cp.RC)
			}
			return []byte(cp.Out), cp.Status, err
		}
		names = append(names, cp.Name)
	}
	c.t.Errorf("%s: none of the captures %v is the %s command %s", c.rel, names, target, buf)
	return nil, "", replayErrno(-int(syscall.EINVAL))
}

func (c *replayConn) calls(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used[name]
}

// newReplayAdmin returns an Admin whose commands are answered from the named
// captures of r; each of them must be asked for. The connection is nil:
// only methods that go through go-ceph's FSAdmin can be replayed.
func newReplayAdmin(t *testing.T, r *replayRelease, names ...string) (*Admin, *replayConn) {
	t.Helper()
	c := &replayConn{t: t, rel: r.name, used: map[string]int{}}
	for _, n := range names {
		c.caps = append(c.caps, r.get(t, n))
	}
	t.Cleanup(func() {
		for _, n := range names {
			if c.calls(n) == 0 {
				t.Errorf("%s: capture %s was never asked for", r.name, n)
			}
		}
	})
	return &Admin{
		slots:   make(chan struct{}, MaxPendingCalls),
		fsa:     admin.NewFromConn(c),
		mgr:     c,
		cache:   &clusterCache{groups: map[string]bool{}},
		release: func() {},
	}, c
}

// forEachRelease runs f as a parallel subtest per release.
func forEachRelease(t *testing.T, f func(t *testing.T, r *replayRelease)) {
	t.Helper()
	for _, rel := range replayReleases {
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			f(t, loadReplayRelease(t, rel))
		})
	}
}

func replayCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkErr fails unless err is nil when want is nil, or matches want.
func checkErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Errorf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

const (
	gib     = int64(1) << 30
	sIFDIR  = 0o40000
	permMax = 0o7777
)

func TestReplaySubvolumeInfo(t *testing.T) {
	t.Parallel()
	type want struct {
		pool        string
		size        int64
		perm        int
		uid, gid    int
		state       string
		retained    bool
		pathPrefix  string
		infiniteRaw bool // Ceph printed bytes_quota "infinite"
	}
	tests := []struct {
		capture string
		want    *want
		err     error
	}{
		{capture: "subvolume_info", want: &want{pool: "myfs-data1", size: gib, perm: 0o750, uid: 1000, gid: 2000, state: "complete", pathPrefix: "/volumes/csi/cap-sv/"}},
		{capture: "subvolume_info_unlimited", want: &want{pool: "myfs-data0", size: 0, perm: 0o755, state: "complete", pathPrefix: "/volumes/csi/cap-sv-unlimited/", infiniteRaw: true}},
		{capture: "subvolume_info_resized", want: &want{pool: "myfs-data1", size: 2 * gib, perm: 0o750, uid: 1000, gid: 2000, state: "complete", pathPrefix: "/volumes/csi/cap-sv/"}},
		// A complete clone of cap-sv@cap-snap: the quota, pool, mode and
		// owner of the source at the snapshot.
		{capture: "subvolume_info_clone", want: &want{pool: "myfs-data1", size: 2 * gib, perm: 0o750, uid: 1000, gid: 2000, state: "complete", pathPrefix: "/volumes/csi/cap-clone/"}},
		// Removed with --retain-snapshots: Ceph prints no path, quota,
		// pool or owner, only the state.
		{capture: "subvolume_info_retained", want: &want{state: "snapshot-retained", retained: true}},
		// Created again over a retained one.
		{capture: "subvolume_info_recreated", want: &want{pool: "myfs-data0", size: gib, perm: 0o755, state: "complete", pathPrefix: "/volumes/csi/cap-sv-unlimited/"}},
		{capture: "subvolume_info_missing", err: contract.ErrNotFound},
		// Purged once its last retained snapshot went.
		{capture: "subvolume_info_purged", err: contract.ErrNotFound},
		// A clone not done yet: EAGAIN "not ready for operation info" in
		// every release.
		{capture: "subvolume_info_pending_clone", err: contract.ErrFailedPrecondition},
		{capture: "subvolume_info_in_progress_clone", err: contract.ErrFailedPrecondition},
		{capture: "subvolume_info_canceled_clone", err: contract.ErrFailedPrecondition},
	}
	forEachRelease(t, func(t *testing.T, r *replayRelease) {
		for _, tt := range tests {
			t.Run(tt.capture, func(t *testing.T) {
				t.Parallel()
				c := r.get(t, tt.capture)
				a, _ := newReplayAdmin(t, r, tt.capture)
				sv, err := a.SubvolumeInfo(replayCtx(t), c.sub("vol_name"), c.sub("group_name"), c.sub("sub_name"))
				if tt.want == nil {
					checkErr(t, tt.capture, err, tt.err)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				w := tt.want
				if !strings.HasPrefix(sv.Path, w.pathPrefix) || (w.pathPrefix == "") != (sv.Path == "") {
					t.Errorf("Path = %q, want %q<uuid>", sv.Path, w.pathPrefix)
				}
				if sv.Size != w.size || sv.Pool != w.pool || sv.UID != w.uid || sv.GID != w.gid || sv.State != w.state || sv.Retained != w.retained {
					t.Errorf("got size %d pool %q owner %d:%d state %q retained %v, want size %d pool %q owner %d:%d state %q retained %v",
						sv.Size, sv.Pool, sv.UID, sv.GID, sv.State, sv.Retained, w.size, w.pool, w.uid, w.gid, w.state, w.retained)
				}
				// Ceph reports the mode with the file type bits; the
				// controller compares Mode&0o7777.
				if w.perm != 0 && (sv.Mode&permMax != w.perm || sv.Mode&^permMax != sIFDIR) {
					t.Errorf("Mode = %o, want %o", sv.Mode, sIFDIR|w.perm)
				}
				if w.perm == 0 && sv.Mode != 0 {
					t.Errorf("Mode = %o, want none", sv.Mode)
				}
				if q := c.outJSON(t)["bytes_quota"]; w.infiniteRaw != (q == "infinite") {
					t.Errorf("raw bytes_quota = %v", q)
				}
			})
		}
	})
}

func TestReplaySubvolumePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		capture string
		err     error
	}{
		{"subvolume_getpath", nil},
		{"subvolume_getpath_missing", contract.ErrNotFound},
		// ENOENT, not EAGAIN, for a subvolume with only snapshots left.
		{"subvolume_getpath_retained", contract.ErrNotFound},
		{"subvolume_getpath_pending_clone", contract.ErrFailedPrecondition},
		{"subvolume_getpath_in_progress_clone", contract.ErrFailedPrecondition},
	}
	forEachRelease(t, func(t *testing.T, r *replayRelease) {
		for _, tt := range tests {
			t.Run(tt.capture, func(t *testing.T) {
				t.Parallel()
				c := r.get(t, tt.capture)
				a, _ := newReplayAdmin(t, r, tt.capture)
				path, err := a.SubvolumePath(replayCtx(t), c.sub("vol_name"), c.sub("group_name"), c.sub("sub_name"))
				checkErr(t, tt.capture, err, tt.err)
				if tt.err != nil {
					return
				}
				// getpath answers text, not JSON, with a newline
				// that go-ceph strips; it is the path info reports.
				if !strings.HasSuffix(c.Out, "\n") {
					t.Errorf("raw getpath output %q has no trailing newline", c.Out)
				}
				if want := r.get(t, "subvolume_info").outJSON(t)["path"]; path != want {
					t.Errorf("path = %q, want %q (subvolume info's)", path, want)
				}
			})
		}
	})
}

func TestReplayCreateSubvolume(t *testing.T) {
	t.Parallel()
	sized := SubvolumeSpec{FSName: "myfs", Group: "csi", Name: "cap-sv", Size: gib, Pool: "myfs-data1", Mode: 0o750, UID: 1000, GID: 2000}
	tests := []struct {
		capture  string
		spec     SubvolumeSpec
		err      error
		optional bool // captured only when the cluster was caught in that state
	}{
		{capture: "subvolume_create", spec: sized},
		// Idempotent: Ceph re-applies size and owner to an existing one.
		{capture: "subvolume_create_again", spec: sized},
		{capture: "subvolume_create_unlimited", spec: SubvolumeSpec{FSName: "myfs", Group: "csi", Name: "cap-sv-unlimited"}},
		{capture: "subvolume_create_missing_group", spec: SubvolumeSpec{FSName: "myfs", Group: "cap-missing-group", Name: "cap-missing", Size: gib}, err: contract.ErrNotFound},
		{capture: "subvolume_create_bad_pool", spec: SubvolumeSpec{FSName: "myfs", Group: "csi", Name: "cap-missing", Size: gib, Pool: "cap-no-pool"}, err: contract.ErrInvalid},
		// Over a subvolume removed with its snapshots retained: Ceph
		// makes a new incarnation, once the old one is purged (EAGAIN
		// "asynchronous purge of subvolume in progress" until then, in
		// every release: a matter of timing, not of release).
		{capture: "subvolume_create_over_retained", spec: SubvolumeSpec{FSName: "myfs", Group: "csi", Name: "cap-sv-unlimited", Size: gib}},
		{capture: "subvolume_create_over_retained_purging", spec: SubvolumeSpec{FSName: "myfs", Group: "csi", Name: "cap-sv-unlimited", Size: gib}, err: contract.ErrFailedPrecondition, optional: true},
	}
	forEachRelease(t, func(t *testing.T, r *replayRelease) {
		for _, tt := range tests {
			t.Run(tt.capture, func(t *testing.T) {
				t.Parallel()
				if tt.optional && !r.has(tt.capture) {
					t.Skipf("%s was not caught in this capture", tt.capture)
				}
				a, _ := newReplayAdmin(t, r, tt.capture)
				a.cache.groups[tt.spec.FSName+"/"+tt.spec.Group] = true
				err := a.CreateSubvolume(replayCtx(t), tt.spec)
				checkErr(t, tt.capture, err, tt.err)
				// A missing group is forgotten, so that the next
				// create makes it again.
				if known := a.cache.groups[tt.spec.FSName+"/"+tt.spec.Group]; known != !errors.Is(tt.err, contract.ErrNotFound) {
					t.Errorf("group %s known = %v after %v", tt.spec.Group, known, err)
				}
			})
		}
	})
}

func TestReplayEnsureGroup(t *testing.T) {
	t.Parallel()
	forEachRelease(t, func(t *testing.T, r *replayRelease) {
		for _, name := range []string{"subvolumegroup_create_existing", "subvolumegroup_create"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				c := r.get(t, name)
				a, conn := newReplayAdmin(t, r, name)
				for range 2 {
					if err := a.EnsureGroup(replayCtx(t), c.sub("vol_name"), c.sub("group_name")); err != nil {
						t.Fatal(err)
					}
				}
				if n := conn.calls(name); n != 1 {
					t.Errorf("%d group creations, want 1 (cached)", n)
				}
			})
		}
	})
}

func TestReplayResizeSubvolume(t *testing.T) {
	t.Parallel()
	tests := []struct {
		capture string
		size    int64
		err     error
	}{
		{"subvolume_resize", 2 * gib, nil},
		{"subvolume_resize_missing", 2 * gib, contract.ErrNotFound},
		// --no_shrink below the bytes used: EINVAL.
		{"subvolume_resize_below_used", 4 << 20, contract.ErrInvalid},
		{"subvolume_resize_retained", gib, contract.ErrNotFound},
	}
	forEachRelease(t, func(t *testing.T, r *replayRelease) {
		for _, tt := range tests {
			t.Run(tt.capture, func(t *testing.T) {
				t.Parallel()
				c := r.get(t, tt.capture)
				a, _ := newReplayAdmin(t, r, tt.capture)
				err := a.ResizeSubvolume(replayCtx(t), c.sub("vol_name"), c.sub("group_name"), c.sub("sub_name"), tt.size)
				checkErr(t, tt.capture, err, tt.err)
			})
		}
	})
}

func TestReplayRemoveSubvolume(t *testing.T) {
	t.Parallel()
	tests := []struct {
		capture string
		force   bool
		err     error
	}{
		{capture: "subvolume_rm_retain"},
		// Removing a retained subvolume again succeeds (rc 0).
		{capture: "subvolume_rm_retain_again"},
		{capture: "subvolume_rm_retain_no_snapshots"},
		{capture: "subvolume_rm_missing"}, // ENOENT: done already
		{capture: "subvolume_rm_pending_clone", err: contract.ErrFailedPrecondition},
		// --force of a missing subvolume: rc 0 in every release.
		{capture: "subvolume_rm_force_missing", force: true},
		{capture: "subvolume_rm_force_canceled_clone", force: true},
	}
	forEachRelease(t, func(t *testing.T, r *replayRelease) {
		for _, tt := range tests {
			t.Run(tt.capture, func(t *testing.T) {
				t.Parallel()
				c := r.get(t, tt.capture)
				a, _ := newReplayAdmin(t, r, tt.capture)
				rm := a.RemoveSubvolume
				if tt.force {
					rm = a.ForceRemoveSubvolume
				}
				checkErr(t, tt.capture, rm(replayCtx(t), c.sub("vol_name"), c.sub("group_name"), c.sub("sub_name")), tt.err)
			})
		}
	})
}

func TestReplaySnapshots(t *testing.T) {
	t.Parallel()
	type op int
	const (
		create op = iota
		info
		remove
	)
	tests := []struct {
		capture string
		op      op
		err     error
	}{
		{capture: "snapshot_create", op: create},
		// An existing snapshot: rc 0 (not EEXIST) in every release.
		{capture: "snapshot_create_again", op: create},
		{capture: "snapshot_create_retained", op: create, err: contract.ErrNotFound},
		{capture: "snapshot_info", op: info},
		{capture: "snapshot_info_pending_clone", op: info},
		{capture: "snapshot_info_in_progress_clone", op: info},
		{capture: "snapshot_info_retained", op: info},
		{capture: "snapshot_info_missing", op: info, err: contract.ErrNotFound},
		{capture: "snapshot_rm_missing", op: remove},
		{capture: "snapshot_rm_missing_subvolume", op: remove},
		// EAGAIN "has pending clones".
		{capture: "snapshot_rm_pending_clone", op: remove, err: contract.ErrFailedPrecondition},
		{capture: "snapshot_rm_retained_last", op: remove},
	}
	forEachRelease(t, func(t *testing.T, r *replayRelease) {
		for _, tt := range tests {
			t.Run(tt.capture, func(t *testing.T) {
				t.Parallel()
				c := r.get(t, tt.capture)
				a, _ := newReplayAdmin(t, r, tt.capture)
				ctx, fs, group, sub, snap := replayCtx(t), c.sub("vol_name"), c.sub("group_name"), c.sub("sub_name"), c.sub("snap_name")
				switch tt.op {
				case create:
					checkErr(t, tt.capture, a.CreateSnapshot(ctx, fs, group, sub, snap), tt.err)
				case remove:
					checkErr(t, tt.capture, a.RemoveSnapshot(ctx, fs, group, sub, snap), tt.err)
				case info:
					created, err := a.SnapshotCreated(ctx, fs, group, sub, snap)
					checkErr(t, tt.capture, err, tt.err)
					if tt.err != nil {
						return
					}
					// created_at has microseconds, in UTC.
					raw, _ := c.outJSON(t)["created_at"].(string)
					want, perr := time.Parse("2006-01-02 15:04:05.999999", raw)
					if perr != nil || created.IsZero() || !created.Equal(want) || created.Location() != time.UTC {
						t.Errorf("created = %v, want %v (%q)", created, want, raw)
					}
				}
			})
		}
	})
}

func TestReplaySnapshotPendingClones(t *testing.T) {
	t.Parallel()
	forEachRelease(t, func(t *testing.T, r *replayRelease) {
		// Every release lists the clones a snapshot still feeds; go-ceph
		// only reads has_pending_clones.
		for _, name := range []string{"snapshot_info_pending_clone", "snapshot_info_in_progress_clone"} {
			m := r.get(t, name).outJSON(t)
			if m["has_pending_clones"] != "yes" {
				t.Errorf("%s: has_pending_clones = %v", name, m["has_pending_clones"])
			}
			if pc, _ := m["pending_clones"].([]any); len(pc) != 1 {
				t.Errorf("%s: pending_clones = %v", name, m["pending_clones"])
			}
		}
		if m := r.get(t, "snapshot_info").outJSON(t); m["has_pending_clones"] != "no" || m["pending_clones"] != nil {
			t.Errorf("snapshot_info: %v", m)
		}
	})
}

func TestReplayCloneStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		capture  string
		state    string
		err      error
		optional bool // the state was not always caught
	}{
		{capture: "clone_status_pending", state: "pending", optional: true},
		{capture: "clone_status_in_progress", state: "in-progress", optional: true},
		{capture: "clone_status_complete", state: "complete"},
		{capture: "clone_status_pending_delayed", state: "pending"},
		{capture: "clone_status_canceled", state: "canceled"},
		{capture: "clone_status_in_progress_data", state: "in-progress"},
		{capture: "clone_status_complete_data", state: "complete"},
		{capture: "clone_status_missing", err: contract.ErrNotFound},
		// Not a clone: EOPNOTSUPP "operation 'clone-status' is not
		// allowed on subvolume ... of type subvolume".
		{capture: "clone_status_not_a_clone", err: contract.ErrFailedPrecondition},
		{capture: "clone_status_retained", err: contract.ErrFailedPrecondition},
	}
	forEachRelease(t, func(t *testing.T, r *replayRelease) {
		for _, tt := range tests {
			t.Run(tt.capture, func(t *testing.T) {
				t.Parallel()
				if tt.optional && !r.has(tt.capture) {
					t.Skipf("%s was not caught in this capture", tt.capture)
				}
				c := r.get(t, tt.capture)
				a, _ := newReplayAdmin(t, r, tt.capture)
				st, err := a.CloneStatus(replayCtx(t), c.sub("vol_name"), c.sub("group_name"), c.sub("clone_name"))
				checkErr(t, tt.capture, err, tt.err)
				if tt.err != nil {
					return
				}
				if st.State != tt.state {
					t.Errorf("State = %q, want %q", st.State, tt.state)
				}
				if tt.state != "canceled" && st.Failure != "" {
					t.Errorf("Failure = %q, want none", st.Failure)
				}
			})
		}
	})
}

// Every release reports a failed or canceled clone's reason inside "status",
// as {"errno": "4", "error_msg": "..."}; go-ceph v0.37.0 looks for it beside
// "status" and under "errstr", so it never finds it.
func TestReplayCloneFailure(t *testing.T) {
	t.Parallel()
	const wantFailure = "4: user interrupted clone operation"
	forEachRelease(t, func(t *testing.T, r *replayRelease) {
		c := r.get(t, "clone_status_canceled")
		var raw struct {
			Status struct {
				State   string            `json:"state"`
				Failure map[string]string `json:"failure"`
			} `json:"status"`
			Failure any `json:"failure"`
		}
		if err := json.Unmarshal([]byte(c.Out), &raw); err != nil {
			t.Fatal(err)
		}
		if raw.Status.State != "canceled" || raw.Failure != nil ||
			!reflect.DeepEqual(raw.Status.Failure, map[string]string{"errno": "4", "error_msg": "user interrupted clone operation"}) {
			t.Errorf("raw clone status %s", c.Out)
		}
		fsa := admin.NewFromConn(&replayConn{t: t, rel: r.name, caps: []*replayCapture{c}, used: map[string]int{}})
		st, err := fsa.CloneStatus(c.sub("vol_name"), c.sub("group_name"), c.sub("clone_name"))
		if err != nil {
			t.Fatal(err)
		}
		if f := st.GetFailure(); f != nil {
			t.Errorf("go-ceph now finds the failure (%+v): drop this check and require the driver to report it", f)
		}
		a, _ := newReplayAdmin(t, r, "clone_status_canceled")
		cs, err := a.CloneStatus(replayCtx(t), c.sub("vol_name"), c.sub("group_name"), c.sub("clone_name"))
		if err != nil {
			t.Fatal(err)
		}
		// go-ceph v0.37.0 drops the reason; pkg/ceph reads it itself.
		switch cs.Failure {
		case wantFailure:
		default:
			t.Errorf("Failure = %q, want %q", cs.Failure, wantFailure)
		}
	})
}

func TestReplayFilesystems(t *testing.T) {
	t.Parallel()
	forEachRelease(t, func(t *testing.T, r *replayRelease) {
		t.Run("fs_ls", func(t *testing.T) {
			t.Parallel()
			a, conn := newReplayAdmin(t, r, "fs_ls")
			ctx := replayCtx(t)
			names, err := a.Filesystems(ctx)
			if err != nil || !slices.Equal(names, []string{"myfs"}) {
				t.Fatalf("Filesystems = %v, %v", names, err)
			}
			pools, err := a.DataPools(ctx, "myfs")
			if err != nil || !slices.Equal(pools, []string{"myfs-data0", "myfs-data1"}) {
				t.Errorf("DataPools = %v, %v", pools, err)
			}
			if n := conn.calls("fs_ls"); n != 1 {
				t.Errorf("%d fs ls, want 1 (DataPools uses the cache)", n)
			}
			if info, _ := a.filesystem(ctx, "myfs"); info.MetadataPool != "myfs-metadata" {
				t.Errorf("metadata pool = %q", info.MetadataPool)
			}
			// An unknown filesystem re-lists, then is the caller's error.
			if _, err := a.DataPools(ctx, "nope"); !errors.Is(err, contract.ErrInvalid) || conn.calls("fs_ls") != 2 {
				t.Errorf("DataPools(nope) = %v after %d fs ls", err, conn.calls("fs_ls"))
			}
		})
		t.Run("fs_dump", func(t *testing.T) {
			t.Parallel()
			// Every release answers with the status "dumped fsmap
			// epoch N", which go-ceph filters out.
			if c := r.get(t, "fs_dump"); !strings.HasPrefix(c.Status, "dumped fsmap epoch ") {
				t.Errorf("fs dump status = %q", c.Status)
			}
			a, conn := newReplayAdmin(t, r, "fs_dump")
			ctx := replayCtx(t)
			name, err := a.FilesystemByID(ctx, 1)
			if err != nil || name != "myfs" {
				t.Fatalf("FilesystemByID(1) = %q, %v", name, err)
			}
			if _, err := a.FilesystemByID(ctx, 7); !errors.Is(err, contract.ErrNotFound) {
				t.Errorf("FilesystemByID(7) = %v", err)
			}
			if n := conn.calls("fs_dump"); n != 2 {
				t.Errorf("%d fs dump, want 2 (a miss re-reads)", n)
			}
		})
	})
}

// replayErrnos is what each capture with an error answered, in every release
// unless byRelease says otherwise.
var replayErrnos = map[string]struct {
	errno     syscall.Errno
	byRelease map[string]syscall.Errno
}{
	"subvolume_create_missing_group":         {errno: syscall.ENOENT},
	"subvolume_create_bad_pool":              {errno: syscall.EINVAL},
	"subvolume_create_over_retained_purging": {errno: syscall.EAGAIN},
	"subvolume_info_missing":                 {errno: syscall.ENOENT},
	"subvolume_info_purged":                  {errno: syscall.ENOENT},
	"subvolume_info_pending_clone":           {errno: syscall.EAGAIN},
	"subvolume_info_in_progress_clone":       {errno: syscall.EAGAIN},
	"subvolume_info_canceled_clone":          {errno: syscall.EAGAIN},
	"subvolume_getpath_missing":              {errno: syscall.ENOENT},
	"subvolume_getpath_retained":             {errno: syscall.ENOENT},
	"subvolume_getpath_pending_clone":        {errno: syscall.EAGAIN},
	"subvolume_getpath_in_progress_clone":    {errno: syscall.EAGAIN},
	"subvolume_resize_missing":               {errno: syscall.ENOENT},
	"subvolume_resize_below_used":            {errno: syscall.EINVAL},
	"subvolume_resize_retained":              {errno: syscall.ENOENT},
	"subvolume_rm_pending_clone":             {errno: syscall.EAGAIN},
	"subvolume_rm_missing":                   {errno: syscall.ENOENT},
	"metadata_get_missing_key":               {errno: syscall.ENOENT},
	"snapshot_info_missing":                  {errno: syscall.ENOENT},
	"snapshot_create_retained":               {errno: syscall.ENOENT},
	"snapshot_rm_missing":                    {errno: syscall.ENOENT},
	"snapshot_rm_missing_subvolume":          {errno: syscall.ENOENT},
	"snapshot_rm_pending_clone":              {errno: syscall.EAGAIN},
	// `fs subvolume snapshot getpath` is new in Tentacle: Pacific and
	// Reef have no handler for it (EINVAL "No handler found").
	"snapshot_getpath":         {errno: syscall.EINVAL, byRelease: map[string]syscall.Errno{"tentacle": 0}},
	"snapshot_getpath_missing": {errno: syscall.EINVAL, byRelease: map[string]syscall.Errno{"tentacle": syscall.ENOENT}},
	"clone_existing_target":    {errno: syscall.EEXIST},
	"clone_missing_snapshot":   {errno: syscall.ENOENT},
	"clone_status_missing":     {errno: syscall.ENOENT},
	"clone_status_not_a_clone": {errno: syscall.EOPNOTSUPP},
	"clone_status_retained":    {errno: syscall.EOPNOTSUPP},
}

// TestReplayErrnos checks the errno of every capture and classify's sentinel
// for it.
func TestReplayErrnos(t *testing.T) {
	t.Parallel()
	want := map[syscall.Errno]error{
		syscall.ENOENT:     contract.ErrNotFound,
		syscall.EEXIST:     contract.ErrAlreadyExists,
		syscall.EINVAL:     contract.ErrInvalid,
		syscall.EAGAIN:     contract.ErrFailedPrecondition,
		syscall.EOPNOTSUPP: contract.ErrFailedPrecondition,
	}
	forEachRelease(t, func(t *testing.T, r *replayRelease) {
		for _, name := range r.order {
			c := r.caps[name]
			exp, listed := replayErrnos[name]
			wantErrno := exp.errno
			if e, ok := exp.byRelease[r.name]; ok {
				wantErrno = e
			}
			if got := syscall.Errno(-c.RC); got != wantErrno {
				t.Errorf("%s: errno %d (%v), want %d (listed: %v); status %q", name, got, got, wantErrno, listed, c.Status)
			}
			if c.RC == 0 {
				continue
			}
			if c.Out != "" {
				t.Errorf("%s: an error with output %q", name, c.Out)
			}
			if c.Status == "" {
				t.Errorf("%s: an error without a status string", name)
			}
			sentinel, ok := want[wantErrno]
			if !ok {
				t.Errorf("%s: no expectation for errno %v", name, wantErrno)
				continue
			}
			if err := classify(replayErrno(c.RC), "op"); !errors.Is(err, sentinel) {
				t.Errorf("%s: classify(%d) = %v, want %v", name, c.RC, err, sentinel)
			}
		}
	})
}

// TestReplayGoCephParses sends every captured command through go-ceph (the
// method the driver, or a future driver, uses for it) and checks that go-ceph
// accepts the answer: a success parses (NoStatus() rejects any status string
// but fs dump's, which go-ceph filters), an error keeps its errno.
func TestReplayGoCephParses(t *testing.T) {
	t.Parallel()
	forEachRelease(t, func(t *testing.T, r *replayRelease) {
		for _, name := range r.order {
			c := r.caps[name]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				if c.RC == 0 && c.Status != "" && c.Cmd["prefix"] != "fs dump" {
					t.Errorf("success with a status string %q: go-ceph's NoStatus() refuses it", c.Status)
				}
				conn := &replayConn{t: t, rel: r.name, caps: []*replayCapture{c}, used: map[string]int{}}
				err := replayGoCeph(t, admin.NewFromConn(conn), c)
				if conn.calls(name) != 1 {
					t.Fatalf("go-ceph did not send the captured command")
				}
				switch {
				case c.RC == 0 && err != nil:
					t.Errorf("go-ceph refuses the answer: %v", err)
				case c.RC != 0 && Errno(err) != syscall.Errno(-c.RC):
					t.Errorf("go-ceph error %v, want errno %d", err, -c.RC)
				}
			})
		}
	})
}

// replayGoCeph calls the go-ceph method that sends c's command.
func replayGoCeph(t *testing.T, fsa *admin.FSAdmin, c *replayCapture) error {
	t.Helper()
	s := c.sub
	num := func(k string) int { f, _ := c.Cmd[k].(float64); return int(f) }
	flag := func(k string) bool { b, _ := c.Cmd[k].(bool); return b }
	vol, group, sub, snap := s("vol_name"), s("group_name"), s("sub_name"), s("snap_name")
	var err error
	switch p := s("prefix"); p {
	case "fs ls":
		var l []admin.FSPoolInfo
		if l, err = fsa.ListFileSystems(); err == nil && len(l) == 0 {
			t.Error("no filesystem")
		}
	case "fs dump":
		var l []admin.VolumeIdent
		if l, err = fsa.EnumerateVolumes(); err == nil && len(l) == 0 {
			t.Error("no filesystem")
		}
	case "fs subvolumegroup create":
		err = fsa.CreateSubVolumeGroup(vol, group, nil)
	case "fs subvolume create":
		mode, _ := strconv.ParseInt(s("mode"), 8, 32)
		err = fsa.CreateSubVolume(vol, group, sub, &admin.SubVolumeOptions{
			Size: admin.ByteCount(num("size")), Uid: num("uid"), Gid: num("gid"), Mode: int(mode), PoolLayout: s("pool_layout"),
		})
	case "fs subvolume info":
		_, err = fsa.SubVolumeInfo(vol, group, sub)
	case "fs subvolume getpath":
		_, err = fsa.SubVolumePath(vol, group, sub)
	case "fs subvolume resize":
		size, perr := strconv.ParseUint(s("new_size"), 10, 64)
		if perr != nil {
			t.Fatal(perr)
		}
		_, err = fsa.ResizeSubVolume(vol, group, sub, admin.ByteCount(size), flag("no_shrink"))
	case "fs subvolume rm":
		err = fsa.RemoveSubVolumeWithFlags(vol, group, sub, admin.SubVolRmFlags{Force: flag("force"), RetainSnapshots: flag("retain_snapshots")})
	case "fs subvolume snapshot create":
		err = fsa.CreateSubVolumeSnapshot(vol, group, sub, snap)
	case "fs subvolume snapshot rm":
		err = fsa.RemoveSubVolumeSnapshot(vol, group, sub, snap)
	case "fs subvolume snapshot info":
		_, err = fsa.SubVolumeSnapshotInfo(vol, group, sub, snap)
	case "fs subvolume snapshot getpath":
		_, err = fsa.SubVolumeSnapshotPath(vol, group, sub, snap)
	case "fs subvolume snapshot clone":
		// go-ceph sends the source group as target_group_name (the
		// driver builds this command itself); the captures use one
		// group for both, so the command is the same.
		err = fsa.CloneSubVolumeSnapshot(vol, group, sub, snap, s("target_sub_name"), &admin.CloneOptions{TargetGroup: s("target_group_name")})
	case "fs clone status":
		_, err = fsa.CloneStatus(vol, group, s("clone_name"))
	case "fs clone cancel":
		err = fsa.CancelClone(vol, group, s("clone_name"))
	case "fs subvolume metadata set":
		err = fsa.SetMetadata(vol, group, sub, s("key_name"), s("value"))
	case "fs subvolume metadata get":
		_, err = fsa.GetMetadata(vol, group, sub, s("key_name"))
	case "fs subvolume metadata ls":
		_, err = fsa.ListMetadata(vol, group, sub)
	default:
		t.Fatalf("no go-ceph method for %q", p)
	}
	return err
}

// TestReplayReleaseDifferences pins down every difference between the
// releases in what the driver receives, and that the driver reads the same
// thing from each.
func TestReplayReleaseDifferences(t *testing.T) {
	t.Parallel()
	pacificInfo := []string{"atime", "bytes_pcent", "bytes_quota", "bytes_used", "created_at", "ctime", "data_pool",
		"features", "gid", "mode", "mon_addrs", "mtime", "path", "pool_namespace", "state", "type", "uid"}
	with := func(base []string, more ...string) []string {
		out := slices.Concat(base, more)
		slices.Sort(out)
		return out
	}
	keys := func(m map[string]any) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	// subvolume info: Reef adds "flavor" (the subvolume's metadata
	// version); Tentacle adds "earmark", "casesensitive" and
	// "normalization" too, and "source" for a clone. go-ceph ignores them
	// all; Subvolume is the same from every release.
	infoKeys := map[string][]string{
		"pacific":  with(pacificInfo),
		"reef":     with(pacificInfo, "flavor"),
		"tentacle": with(pacificInfo, "flavor", "earmark", "casesensitive", "normalization"),
	}
	// A retained subvolume's info: state, type, features, mon_addrs;
	// Reef and Tentacle add "flavor".
	retainedKeys := map[string][]string{
		"pacific":  {"features", "mon_addrs", "state", "type"},
		"reef":     {"features", "flavor", "mon_addrs", "state", "type"},
		"tentacle": {"features", "flavor", "mon_addrs", "state", "type"},
	}
	forEachRelease(t, func(t *testing.T, r *replayRelease) {
		t.Run("subvolume info fields", func(t *testing.T) {
			t.Parallel()
			for _, name := range []string{"subvolume_info", "subvolume_info_unlimited", "subvolume_info_resized", "subvolume_info_recreated"} {
				if got := keys(r.get(t, name).outJSON(t)); !slices.Equal(got, infoKeys[r.name]) {
					t.Errorf("%s: fields %v, want %v", name, got, infoKeys[r.name])
				}
			}
			want := infoKeys[r.name]
			if r.name == "tentacle" {
				want = with(want, "source") // Tentacle: a clone names its source
			}
			if got := keys(r.get(t, "subvolume_info_clone").outJSON(t)); !slices.Equal(got, want) {
				t.Errorf("subvolume_info_clone: fields %v, want %v", got, want)
			}
			if got := keys(r.get(t, "subvolume_info_retained").outJSON(t)); !slices.Equal(got, retainedKeys[r.name]) {
				t.Errorf("subvolume_info_retained: fields %v, want %v", got, retainedKeys[r.name])
			}
		})
		t.Run("clone progress report", func(t *testing.T) {
			t.Parallel()
			// Tentacle adds status.progress_report to an in-progress
			// clone's status (go-ceph reads it into ProgressReport);
			// Pacific and Reef have none. The driver reads the state only.
			c := r.get(t, "clone_status_in_progress_data")
			fsa := admin.NewFromConn(&replayConn{t: t, rel: r.name, caps: []*replayCapture{c}, used: map[string]int{}})
			st, err := fsa.CloneStatus(c.sub("vol_name"), c.sub("group_name"), c.sub("clone_name"))
			if err != nil {
				t.Fatal(err)
			}
			hasReport := st.ProgressReport != admin.CloneProgressReport{}
			if want := r.name == "tentacle"; hasReport != want {
				t.Errorf("progress report %+v: present = %v, want %v", st.ProgressReport, hasReport, want)
			}
			if hasReport && (!strings.Contains(st.ProgressReport.FilesCloned, "/") || !strings.HasSuffix(st.ProgressReport.PercentageCloned, "%")) {
				t.Errorf("progress report %+v", st.ProgressReport)
			}
			// Complete clones have no source and no report anywhere.
			if got := keys(r.get(t, "clone_status_complete").outJSON(t)["status"].(map[string]any)); !slices.Equal(got, []string{"state"}) {
				t.Errorf("complete clone status fields %v", got)
			}
		})
		t.Run("snapshot getpath", func(t *testing.T) {
			t.Parallel()
			// New in Tentacle. In Pacific and Reef go-ceph turns the
			// mgr's "No handler found" into a NotImplementedError, which
			// classify would map to ErrInvalid through its EINVAL: a caller
			// must test for admin.NotImplementedError first.
			c := r.get(t, "snapshot_getpath")
			a, _ := newReplayAdmin(t, r, "snapshot_getpath")
			path, err := a.fsa.SubVolumeSnapshotPath(c.sub("vol_name"), c.sub("group_name"), c.sub("sub_name"), c.sub("snap_name"))
			if r.name == "tentacle" {
				svPath, _ := r.get(t, "subvolume_info").outJSON(t)["path"].(string)
				dir, uuid := filepath.Split(svPath)
				if err != nil || path != dir+".snap/"+c.sub("snap_name")+"/"+uuid {
					t.Errorf("snapshot path %q, %v (subvolume %s)", path, err, svPath)
				}
				return
			}
			var ni admin.NotImplementedError
			if !errors.As(err, &ni) || c.Status != "No handler found for 'fs subvolume snapshot getpath'" {
				t.Errorf("error %v (status %q), want NotImplementedError", err, c.Status)
			}
			if !errors.Is(classify(err, "op"), contract.ErrInvalid) {
				t.Errorf("classify(%v) is not ErrInvalid", err)
			}
		})
		t.Run("fs dump fields", func(t *testing.T) {
			t.Parallel()
			// The mdsmap grows (Reef: bal_rank_mask, flags_state,
			// max_xattr_size; Tentacle: qdb_cluster, qdb_leader, and a
			// top-level btime); go-ceph reads id and mdsmap.fs_name,
			// present in all.
			m := r.get(t, "fs_dump").outJSON(t)
			fss, _ := m["filesystems"].([]any)
			if len(fss) != 1 {
				t.Fatalf("filesystems %v", m["filesystems"])
			}
			mdsmap, _ := fss[0].(map[string]any)["mdsmap"].(map[string]any)
			for k, since := range map[string]string{"bal_rank_mask": "reef", "flags_state": "reef", "max_xattr_size": "reef", "qdb_cluster": "tentacle", "qdb_leader": "tentacle"} {
				_, has := mdsmap[k]
				if want := slices.Index(replayReleases, r.name) >= slices.Index(replayReleases, since); has != want {
					t.Errorf("mdsmap.%s present = %v, want %v", k, has, want)
				}
			}
			if _, has := m["btime"]; has != (r.name == "tentacle") {
				t.Errorf("btime present = %v", has)
			}
			if mdsmap["fs_name"] != "myfs" {
				t.Errorf("fs_name %v", mdsmap["fs_name"])
			}
		})
		t.Run("status strings", func(t *testing.T) {
			t.Parallel()
			// Same errnos, reworded status strings: Reef and Tentacle
			// quote names and operations with double quotes where Pacific
			// used single ones (or none), and drop the spaces around
			// "--" in the pool layout error. The driver never parses a
			// status string.
			want := map[string][2]string{
				"subvolume_info_pending_clone": {
					`subvolume 'cap-clone-pending' is not ready for operation info`,
					`subvolume "cap-clone-pending" is not ready for operation "info"`},
				"subvolume_rm_pending_clone": {
					`subvolume 'cap-clone-pending' is not ready for operation rm (use --force to override)`,
					`subvolume "cap-clone-pending" is not ready for operation "rm" (use --force to override)`},
				"subvolume_getpath_retained": {
					`subvolume 'cap-sv' is removed and has only snapshots retained`,
					`subvolume "cap-sv" is removed and has only snapshots retained`},
				"subvolume_create_bad_pool": {
					`invalid pool layout 'cap-no-pool' -- need a valid data pool`,
					`invalid pool layout 'cap-no-pool'--need a valid data pool`},
				// Unchanged, and still with Python's bytes repr.
				"snapshot_rm_missing": {
					`snapshot 'b'cap-missing'' does not exist`,
					`snapshot 'b'cap-missing'' does not exist`},
			}
			for name, w := range want {
				exp := w[1]
				if r.name == "pacific" {
					exp = w[0]
				}
				if got := r.get(t, name).Status; got != exp {
					t.Errorf("%s: status %q, want %q", name, got, exp)
				}
			}
		})
		t.Run("metadata", func(t *testing.T) {
			t.Parallel()
			// Subvolume metadata works in all three releases, Pacific
			// 16.2.15 included, although go-ceph builds its metadata
			// calls only without the pacific build tag.
			c := r.get(t, "metadata_ls")
			fsa := admin.NewFromConn(&replayConn{t: t, rel: r.name, caps: []*replayCapture{c, r.get(t, "metadata_get")}, used: map[string]int{}})
			md, err := fsa.ListMetadata(c.sub("vol_name"), c.sub("group_name"), c.sub("sub_name"))
			if err != nil || !reflect.DeepEqual(md, map[string]string{"cap-key": "cap-value"}) {
				t.Errorf("ListMetadata = %v, %v", md, err)
			}
			v, err := fsa.GetMetadata(c.sub("vol_name"), c.sub("group_name"), c.sub("sub_name"), "cap-key")
			if err != nil || v != "cap-value" {
				t.Errorf("GetMetadata = %q, %v", v, err)
			}
		})
	})
}

// TestReplayCLI records how the ceph CLI shows what the driver receives:
// the host's (Pacific) CLI prints a JSON output buffer after an empty line,
// the status string on stderr (errors as "Error EXXX: status") and exits
// with the positive errno; Reef's and Tentacle's own CLIs print exactly what
// the host's does. Only a command the cluster lacks differs: the CLI refuses
// it itself ("no valid command found"), where librados gets the mgr's
// "No handler found".
func TestReplayCLI(t *testing.T) {
	t.Parallel()
	forEachRelease(t, func(t *testing.T, r *replayRelease) {
		n := 0
		for _, name := range r.order {
			c := r.caps[name]
			if c.HostCLI == nil {
				continue
			}
			n++
			h := c.HostCLI
			if r.name == "pacific" {
				if c.ReleaseCLI != nil {
					t.Errorf("%s: a release CLI answer for pacific", name)
				}
			} else if string(c.ReleaseCLI) != `"same as host_cli"` {
				t.Errorf("%s: %s's own CLI differs from the host's: %s", name, r.name, c.ReleaseCLI)
			}
			if c.Status == "No handler found for '"+c.sub("prefix")+"'" {
				if h.RC != int(syscall.EINVAL) || !strings.HasPrefix(h.Stderr, "no valid command found") {
					t.Errorf("%s: CLI rc %d stderr %q", name, h.RC, h.Stderr)
				}
				continue
			}
			stdout := c.Out
			if slices.Contains(h.Argv, "--format") {
				stdout = "\n" + c.Out
			}
			wantErr := c.Status
			if wantErr != "" {
				wantErr += "\n"
			}
			if c.RC != 0 {
				wantErr = "Error " + replayErrnoName(syscall.Errno(-c.RC)) + ": " + wantErr
			}
			if h.RC != -c.RC || h.Stdout != stdout || h.Stderr != wantErr {
				t.Errorf("%s: CLI rc %d stdout %q stderr %q; librados rc %d out %q status %q", name, h.RC, h.Stdout, h.Stderr, c.RC, c.Out, c.Status)
			}
		}
		if n == 0 {
			t.Error("no CLI captures")
		}
	})
}

func replayErrnoName(e syscall.Errno) string {
	return map[syscall.Errno]string{
		syscall.ENOENT: "ENOENT", syscall.EAGAIN: "EAGAIN", syscall.EINVAL: "EINVAL",
		syscall.EEXIST: "EEXIST", syscall.EOPNOTSUPP: "ENOTSUP",
	}[e]
}
