package node

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	mount "k8s.io/mount-utils"

	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/mounter"
	"github.com/cephfs-csi/cephfs-csi/pkg/server"
)

const key = "AQBzV1FnAAAAABAAx7tS0cLsO9fcQ4rN1f0XWQ=="

// recorder is a mounter that records what it was asked and can block.
type recorder struct {
	name  string
	got   []mounter.Request
	block chan struct{}
	fm    *mount.FakeMounter
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Mount(ctx context.Context, req mounter.Request, target string) error {
	r.got = append(r.got, req)
	if r.block != nil {
		<-r.block // a stuck mount ignores ctx, as a D-state mount(2) does
	}
	return r.fm.Mount("ceph", target, "ceph", nil)
}

func newTestServer(t *testing.T, kernelOK bool) (*Server, *recorder, *recorder) {
	t.Helper()
	cfg, err := config.Parse([]byte(`[{"clusterID":"c1","monitors":["v2:10.0.0.1:3300"],"cephFS":{"fuseMountOptions":"debug","kernelMountOptions":"noatime"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	fm := mount.NewFakeMounter(nil)
	fuse, kernel := &recorder{name: "fuse", fm: fm}, &recorder{name: "kernel", fm: fm}
	s, err := New(Options{NodeID: "n1", Config: cfg, Mount: fm, Binds: &fakeBinds{fm: fm}, Fuse: fuse, Kernel: kernel,
		KernelSupported: kernelOK, DefaultMounter: "auto", MountTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return s, fuse, kernel
}

func stageReq(staging string, vc map[string]string, flags ...string) *csi.NodeStageVolumeRequest {
	ctx := map[string]string{"clusterID": "c1", "fsName": "myfs", "subvolumePath": "/volumes/csi/v/uuid"}
	for k, v := range vc {
		ctx[k] = v
	}
	return &csi.NodeStageVolumeRequest{
		VolumeId: "cfs1:c1:myfs:csi:v", StagingTargetPath: staging, VolumeContext: ctx,
		Secrets: map[string]string{"userID": "node", "userKey": key},
		VolumeCapability: &csi.VolumeCapability{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{MountFlags: flags}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
		},
	}
}

func TestMounterChoice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		kernelOK bool
		mounter  string
		want     string
		opts     []string
	}{
		{"auto without kernel support", false, "", "fuse", []string{"debug"}},
		{"auto with kernel support", true, "", "kernel", []string{"noatime"}},
		{"kernel asked, unsupported: fuse", false, "kernel", "fuse", []string{"debug"}},
		{"kernel asked and supported", true, "kernel", "kernel", []string{"noatime"}},
		{"fuse asked on a kernel node", true, "fuse", "fuse", []string{"debug"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _, _ := newTestServer(t, tt.kernelOK)
			m, req, err := s.mountRequest(context.Background(), stageReq("/s", map[string]string{"mounter": tt.mounter}))
			if err != nil {
				t.Fatal(err)
			}
			if m.Name() != tt.want || !slices.Equal(req.Options, tt.opts) {
				t.Errorf("mounter %s options %v, want %s %v", m.Name(), req.Options, tt.want, tt.opts)
			}
			if req.Creds.ID != "node" || req.Path != "/volumes/csi/v/uuid" || req.FSName != "myfs" {
				t.Errorf("request %+v", req)
			}
		})
	}
}

func TestMountRequestOptionsAndErrors(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestServer(t, false)
	_, req, err := s.mountRequest(context.Background(), stageReq("/s", map[string]string{"fuseMountOptions": "allow_other"}, "ro"))
	if err != nil || !slices.Equal(req.Options, []string{"debug", "allow_other", "ro"}) {
		t.Fatalf("options %v, %v", req.Options, err)
	}
	_, req, err = s.mountRequest(context.Background(), stageReq("/s", map[string]string{"subvolumePath": "", "rootPath": "//postgresql/"}))
	if err != nil || req.Path != "/postgresql" {
		t.Fatalf("static volume path %q, %v", req.Path, err)
	}
	bad := map[string]*csi.NodeStageVolumeRequest{
		"injected option": stageReq("/s", map[string]string{"fuseMountOptions": "debug,-o x"}),
		"injected flag":   stageReq("/s", nil, "ro,secretfile=/x"),
		"no path":         stageReq("/s", map[string]string{"subvolumePath": ""}),
		"relative path":   stageReq("/s", map[string]string{"subvolumePath": "volumes/x"}),
		"dot-dot path":    stageReq("/s", map[string]string{"subvolumePath": "", "rootPath": "/volumes/csi/../../etc"}),
		"NUL in path":     stageReq("/s", map[string]string{"subvolumePath": "/volumes/csi/v\x00/uuid"}),
		"newline in path": stageReq("/s", map[string]string{"subvolumePath": "", "rootPath": "/a\n/b"}),
		"unknown cluster": stageReq("/s", map[string]string{"clusterID": "c9"}),
		"no fsName":       stageReq("/s", map[string]string{"fsName": ""}),
		"bad mounter":     stageReq("/s", map[string]string{"mounter": "nfs"}),
	}
	noSecrets := stageReq("/s", nil)
	noSecrets.Secrets = nil
	bad["no secrets"] = noSecrets
	for name, r := range bad {
		if _, _, err := s.mountRequest(context.Background(), r); server.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
}

func TestStuckMountKeepsLock(t *testing.T) {
	t.Parallel()
	s, fuse, _ := newTestServer(t, false)
	fuse.block = make(chan struct{})
	staging := filepath.Join(t.TempDir(), "staging")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.NodeStageVolume(ctx, stageReq(staging, nil)); server.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("stuck mount: %v, want DeadlineExceeded", err)
	}
	if _, err := s.NodeStageVolume(context.Background(), stageReq(staging, nil)); server.Code(err) != codes.Aborted {
		t.Fatalf("while the mount is stuck: %v, want Aborted", err)
	}
	close(fuse.block)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := s.NodeStageVolume(context.Background(), stageReq(staging, nil))
		if err == nil {
			break
		}
		if server.Code(err) != codes.Aborted || time.Now().After(deadline) {
			t.Fatalf("after the mount returned: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	for mode, want := range map[csi.VolumeCapability_AccessMode_Mode]bool{
		csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY:  true,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY: true,
		csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER: false,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER:      false,
	} {
		req := &csi.NodePublishVolumeRequest{VolumeCapability: &csi.VolumeCapability{AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode}}}
		if readOnly(req) != want {
			t.Errorf("%v: readOnly = %v", mode, !want)
		}
		req.Readonly = true
		if !readOnly(req) {
			t.Errorf("%v with readonly flag: not read-only", mode)
		}
	}
}

func TestNewRejectsUnknownMounter(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{DefaultMounter: "nfs"}); err == nil {
		t.Fatal("accepted default mounter nfs")
	}
}

func TestLegacyVolumePathLookedUpOnlyToMount(t *testing.T) {
	t.Parallel()
	s, fuse, _ := newTestServer(t, false)
	lookups := 0
	s.subvolumePath = func(_ context.Context, c *config.Cluster, creds contract.Credentials, fs, group, name string) (string, error) {
		lookups++
		if c.ClusterID != "c1" || creds.ID != "node" || fs != "myfs" || group != "csi" || name != "csi-vol-legacy" {
			t.Errorf("lookup of %s %s %s/%s/%s", c.ClusterID, creds.ID, fs, group, name)
		}
		return "/volumes/csi/csi-vol-legacy/uuid", nil
	}
	staging := filepath.Join(t.TempDir(), "staging")
	req := stageReq(staging, map[string]string{"subvolumePath": "", "subvolumeName": "csi-vol-legacy"})
	for i := 0; i < 2; i++ {
		if _, err := s.NodeStageVolume(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if lookups != 1 || len(fuse.got) != 1 || fuse.got[0].Path != "/volumes/csi/csi-vol-legacy/uuid" {
		t.Errorf("lookups %d, mounts %+v", lookups, fuse.got)
	}
}

// TestBadPathsRefused: every path of a node request is checked before
// anything is mounted, and the error names the field.
func TestBadPathsRefused(t *testing.T) {
	t.Parallel()
	s, fuse, kernel := newTestServer(t, false)
	ctx := context.Background()
	good := filepath.Join(t.TempDir(), "ok")
	rw := stageReq(good, nil).GetVolumeCapability()
	calls := map[string]func(bad string) error{
		"staging target path/stage": func(bad string) error {
			_, err := s.NodeStageVolume(ctx, stageReq(bad, nil))
			return err
		},
		`volume context "rootPath"/stage`: func(bad string) error {
			_, err := s.NodeStageVolume(ctx, stageReq(good, map[string]string{"subvolumePath": "", "rootPath": bad}))
			return err
		},
		`volume context "subvolumePath"/stage`: func(bad string) error {
			_, err := s.NodeStageVolume(ctx, stageReq(good, map[string]string{"subvolumePath": bad}))
			return err
		},
		"staging target path/unstage": func(bad string) error {
			_, err := s.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: "v", StagingTargetPath: bad})
			return err
		},
		"staging target path/publish": func(bad string) error {
			_, err := s.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: "v", StagingTargetPath: bad, TargetPath: good, VolumeCapability: rw})
			return err
		},
		"target path/publish": func(bad string) error {
			_, err := s.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: "v", StagingTargetPath: good, TargetPath: bad, VolumeCapability: rw})
			return err
		},
		"target path/unpublish": func(bad string) error {
			_, err := s.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "v", TargetPath: bad})
			return err
		},
		"volume path/stats": func(bad string) error {
			_, err := s.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: "v", VolumePath: bad})
			return err
		},
		"staging target path/stats": func(bad string) error {
			_, err := s.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: "v", VolumePath: good, StagingTargetPath: bad})
			return err
		},
		"volume path/expand": func(bad string) error {
			_, err := s.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: "v", VolumePath: bad})
			return err
		},
		"staging target path/expand": func(bad string) error {
			_, err := s.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: "v", VolumePath: good, StagingTargetPath: bad})
			return err
		},
	}
	for name, call := range calls {
		field, _, _ := strings.Cut(name, "/")
		for _, bad := range []string{"relative/x", good + "/../../etc", good + "\x00", good + "\nx"} {
			err := call(bad)
			if (name == "volume path/stats" || name == "volume path/expand") && bad == "relative/x" {
				// Nothing is published there (csi-sanity's expectation).
				if server.Code(err) != codes.NotFound {
					t.Errorf("%s with %q: %v; want NotFound", name, bad, err)
				}
				continue
			}
			if server.Code(err) != codes.InvalidArgument || !strings.HasPrefix(err.Error(), field+" ") {
				t.Errorf("%s with %q: %v; want InvalidArgument naming %s", name, bad, err, field)
			}
		}
	}
	if len(fuse.got)+len(kernel.got) != 0 {
		t.Errorf("a bad path reached a mounter: %+v %+v", fuse.got, kernel.got)
	}
}

// TestNodeExpandVolume: nothing to expand on the node; a path that is not a
// mount is NotFound, and the IDs and paths are required.
func TestNodeExpandVolume(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestServer(t, false)
	ctx := context.Background()
	dir := t.TempDir()
	for _, tt := range []struct {
		req  *csi.NodeExpandVolumeRequest
		want codes.Code
	}{
		{&csi.NodeExpandVolumeRequest{VolumePath: dir}, codes.InvalidArgument},
		{&csi.NodeExpandVolumeRequest{VolumeId: "v"}, codes.InvalidArgument},
		{&csi.NodeExpandVolumeRequest{VolumeId: "v", VolumePath: dir}, codes.NotFound},
		{&csi.NodeExpandVolumeRequest{VolumeId: "v", VolumePath: filepath.Join(dir, "absent")}, codes.NotFound},
		{&csi.NodeExpandVolumeRequest{VolumeId: "v", VolumePath: dir, VolumeCapability: &csi.VolumeCapability{
			AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		}}, codes.InvalidArgument},
	} {
		if _, err := s.NodeExpandVolume(ctx, tt.req); server.Code(err) != tt.want {
			t.Errorf("%v: %v, want %v", tt.req, err, tt.want)
		}
	}
}

// TestStaticVolumeWithoutFSName: the cluster's only filesystem is asked for
// once per cluster and mounted; with several the volume is refused, naming
// them, and asked again next time; a volume that is not static still needs
// fsName.
func TestStaticVolumeWithoutFSName(t *testing.T) {
	t.Parallel()
	s, fuse, _ := newTestServer(t, false)
	var answer []string
	lookups := 0
	s.filesystems = func(_ context.Context, c *config.Cluster, creds contract.Credentials) ([]string, error) {
		lookups++
		if c.ClusterID != "c1" || creds.ID != "node" {
			t.Errorf("lookup on %s as %s", c.ClusterID, creds.ID)
		}
		return answer, nil
	}
	static := map[string]string{"fsName": "", "subvolumePath": "", "rootPath": "/shared", "staticVolume": "true"}
	stage := func() error {
		_, err := s.NodeStageVolume(context.Background(), stageReq(filepath.Join(t.TempDir(), "staging"), static))
		return err
	}

	answer = []string{"b", "a"}
	for i := 1; i <= 2; i++ {
		err := stage()
		if server.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "has 2 filesystems (a, b)") || lookups != i {
			t.Fatalf("two filesystems, try %d: %v (%d lookups)", i, err, lookups)
		}
	}
	answer = nil
	if err := stage(); server.Code(err) != codes.FailedPrecondition {
		t.Fatalf("no filesystem: %v", err)
	}
	answer = []string{"only"}
	for range 2 {
		if err := stage(); err != nil {
			t.Fatal(err)
		}
	}
	if lookups != 4 || len(fuse.got) != 2 || fuse.got[0].FSName != "only" || fuse.got[1].Path != "/shared" {
		t.Errorf("%d lookups, mounts %+v; want 4 lookups and two mounts of only:/shared", lookups, fuse.got)
	}
	notStatic := stageReq(filepath.Join(t.TempDir(), "staging"), map[string]string{"fsName": ""})
	if _, err := s.NodeStageVolume(context.Background(), notStatic); server.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `"fsName" is required`) {
		t.Errorf("provisioned volume without fsName: %v", err)
	}
}
