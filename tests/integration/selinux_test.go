package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cephfs-csi/cephfs-csi/pkg/driver"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// kubeletContext is the mount flag the kubelet v1.37 adds at NodeStage and
// NodePublish (fmt.Sprintf("context=%q", label)) on a node with SELinux.
const kubeletContext = `context="system_u:object_r:container_file_t:s0:c1,c2"`

// procFilesystems writes this kernel's filesystem list, with or without
// selinuxfs, for the driver to read in place of /proc/filesystems.
func procFilesystems(t *testing.T, selinux bool) string {
	t.Helper()
	data, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if !strings.HasSuffix(l, "selinuxfs") {
			lines = append(lines, l)
		}
	}
	if selinux {
		lines = append(lines, "nodev\tselinuxfs")
	}
	path := filepath.Join(t.TempDir(), "filesystems")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func withFlags(mode csi.VolumeCapability_AccessMode_Mode, flags ...string) *csi.VolumeCapability {
	c := mountCap(mode)
	c.GetMount().MountFlags = flags
	return c
}

// superOptions returns the superblock options of the mount at path.
func superOptions(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == path {
			return f[len(f)-1]
		}
	}
	t.Fatalf("%s is not mounted", path)
	return ""
}

// TestSELinuxContext: the kubelet's context= flag, at NodeStage and
// NodePublish of a ReadWriteOncePod volume, through a real ceph-fuse.
// This kernel has no SELinux. As the node it is, the driver mounts without
// the label (nothing would enforce it). Told it has SELinux, the driver
// passes the context to ceph-fuse whole — and the kernel's FUSE, which has
// no SELinux to hand it to, answers EINVAL: InvalidArgument naming the
// option, nothing left mounted, locally and through the mount holder.
// Hostile flags are refused before any mount.
func TestSELinuxContext(t *testing.T) {
	needRoot(t)
	c := testcluster.Get(t)
	ctx := context.Background()
	rwop := withFlags(csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER, kubeletContext)
	noSELinux := c.StartDriver(t, func(o *driver.Options) {
		o.DefaultMounter = "fuse"
		o.ProcFilesystems = procFilesystems(t, false)
	})
	vol := createVolume(t, noSELinux, c, "selinux", 64<<20, nil)
	stageReq := func(staging string, vc *csi.VolumeCapability) *csi.NodeStageVolumeRequest {
		return &csi.NodeStageVolumeRequest{
			VolumeId: vol.GetVolumeId(), StagingTargetPath: staging, VolumeCapability: vc,
			VolumeContext: vol.GetVolumeContext(), Secrets: c.Secrets(),
		}
	}

	t.Run("node without SELinux", func(t *testing.T) {
		dir := t.TempDir()
		staging, target := filepath.Join(dir, "staging"), filepath.Join(dir, "target")
		if _, err := noSELinux.Node.NodeStageVolume(ctx, stageReq(staging, rwop)); err != nil {
			t.Fatalf("stage with %s: %v", kubeletContext, err)
		}
		defer func() {
			if _, err := noSELinux.Node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging}); err != nil {
				t.Errorf("unstage: %v", err)
			}
		}()
		if _, err := noSELinux.Node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
			VolumeId: vol.GetVolumeId(), StagingTargetPath: staging, TargetPath: target,
			VolumeCapability: rwop, VolumeContext: vol.GetVolumeContext(),
		}); err != nil {
			t.Fatalf("publish with %s: %v", kubeletContext, err)
		}
		defer func() {
			if _, err := noSELinux.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vol.GetVolumeId(), TargetPath: target}); err != nil {
				t.Errorf("unpublish: %v", err)
			}
		}()
		if opts := superOptions(t, staging); strings.Contains(opts, "context") {
			t.Errorf("staging mount's options %q: a context on a kernel without SELinux", opts)
		}
		write(t, filepath.Join(target, "f"), "labelled nowhere")
		if got := readFile(t, filepath.Join(staging, "f")); got != "labelled nowhere" {
			t.Errorf("read back %q", got)
		}
	})

	t.Run("hostile flags", func(t *testing.T) {
		for _, f := range []string{
			`context="a,b",secretfile=/x`,
			kubeletContext + ",secretfile=/x",
			`context="system_u:object_r:container_file_t:s0:c1,secretfile=/x"`,
			`context="system_u:object_r:container_file_t:s0:c1`,
			`context=system_u:object_r:container_file_t:s0:c1,c2`,
		} {
			staging := filepath.Join(t.TempDir(), "staging")
			_, err := noSELinux.Node.NodeStageVolume(ctx, stageReq(staging, withFlags(csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER, f)))
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("flag %s: %v, want InvalidArgument", f, err)
			}
			if m := mountsUnder(t, staging); len(m) != 0 {
				t.Errorf("flag %s: mounted %v", f, m)
			}
		}
	})

	socket, _ := startHolder(t)
	for name, holder := range map[string]string{"node with SELinux": "", "node with SELinux, mount holder": socket} {
		t.Run(name, func(t *testing.T) {
			drv := c.StartDriver(t, func(o *driver.Options) {
				o.DefaultMounter = "fuse"
				o.ProcFilesystems = procFilesystems(t, true)
				o.MountHolderSocket = holder
			})
			staging := filepath.Join(t.TempDir(), "staging")
			_, err := drv.Node.NodeStageVolume(ctx, stageReq(staging, rwop))
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), kubeletContext) {
				t.Fatalf("stage with %s on a kernel without SELinux: %v, want InvalidArgument naming it", kubeletContext, err)
			}
			if m := mountsUnder(t, staging); len(m) != 0 {
				t.Errorf("mounted %v", m)
			}
		})
	}
}
