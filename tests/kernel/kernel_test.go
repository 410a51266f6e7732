package kernel

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
	"github.com/cephfs-csi/cephfs-csi/tests/clusterdesc"
)

const (
	// quotaMiB is the test volumes' size.
	quotaMiB = 64
	// configKernelOption is the cluster config's kernelMountOptions, and
	// classKernelOption a StorageClass's; both must reach the mount.
	configKernelOption = "rasize=16777216"
	classKernelOption  = "noatime"
	// guestRun is where the test stages and publishes in the guest (a tmpfs).
	guestRun = "/run/kernel-e2e"
)

// TestKernel runs the driver's node service in a guest with Debian's
// kernel and mounts subvolumes with the CephFS kernel client.
func TestKernel(t *testing.T) {
	v := start(t)
	var stageTimes []time.Duration
	t.Cleanup(func() { t.Logf("NodeStage with the kernel client took %v", stageTimes) })

	t.Run("stage, publish, quota, read-only, stats, unstage", func(t *testing.T) {
		vol := v.subvolume(t, "kernel-rw", map[string]string{"mounter": "kernel", "kernelMountOptions": classKernelOption})
		stageTimes = append(stageTimes, v.stage(t, vol))
		opts := v.mountOptions(t, vol.staging, "ceph")
		t.Logf("the kernel's options for the mount: %s", opts)
		for _, want := range []string{"name=admin", "mds_namespace=" + v.cluster.FS, "ms_mode=prefer-crc", configKernelOption, classKernelOption} {
			if !hasMountOption(opts, want) {
				t.Errorf("mount options %q lack %q", opts, want)
			}
		}
		rw, ro := filepath.Join(guestRun, "pods", "rw"), filepath.Join(guestRun, "pods", "ro")
		v.publish(t, vol, rw, false)
		v.publish(t, vol, ro, true)
		v.sh(t, fmt.Sprintf("echo hello > %[1]s/file && test \"$(cat %[2]s/file)\" = hello", rw, ro))
		if out := v.sh(t, "df -k -P "+rw); !strings.Contains(out, " "+strconv.Itoa(quotaMiB*1024)+" ") {
			t.Errorf("df does not show the %d MiB quota:\n%s", quotaMiB, out)
		}
		res := v.exec(t, "/bin/sh", "-c", fmt.Sprintf("dd if=/dev/zero of=%s/big bs=1M count=%d conv=fsync", rw, 2*quotaMiB))
		if res.Code == 0 || !strings.Contains(res.Stderr, "Disk quota exceeded") {
			t.Errorf("writing %d MiB into a %d MiB volume: exit %d: %s", 2*quotaMiB, quotaMiB, res.Code, res.Stderr)
		}
		if res := v.exec(t, "touch", ro+"/new"); res.Code == 0 || !strings.Contains(res.Stderr, "Read-only file system") {
			t.Errorf("touch on the read-only target: exit %d: %s", res.Code, res.Stderr)
		}
		stats := v.stats(t, vol, rw)
		for _, u := range stats.GetUsage() {
			if u.GetUnit() == csi.VolumeUsage_BYTES && u.GetTotal() != quotaMiB<<20 {
				t.Errorf("NodeGetVolumeStats: total %d bytes, want %d", u.GetTotal(), quotaMiB<<20)
			}
		}
		// Filled to its quota by dd: at most DEGRADED QuotaExceeded, never
		// inaccessible.
		for _, e := range v.health(t, vol, rw) {
			if e.GetStatus() != csi.VolumeHealthErrorType_DEGRADED {
				t.Errorf("NodeGetVolumeHealth of a mounted, full volume: %v", e)
			}
		}
		if found := v.scan(t, v.cluster.AdminKey, "/run", "/tmp", v.dir); len(found) != 0 {
			t.Errorf("the CephX key is in %v", found)
		}
		v.unpublish(t, vol, ro)
		v.unpublish(t, vol, rw)
		v.unstage(t, vol)
		if mounts := v.sh(t, "cat /proc/mounts"); strings.Contains(mounts, guestRun) {
			t.Errorf("still mounted after NodeUnstage:\n%s", mounts)
		}
	})

	t.Run("the node default auto chooses the kernel client", func(t *testing.T) {
		vol := v.subvolume(t, "kernel-auto", nil)
		stageTimes = append(stageTimes, v.stage(t, vol))
		v.mountOptions(t, vol.staging, "ceph")
		v.unstage(t, vol)
	})

	t.Run("a volume ceph-csi made, without a recorded path", func(t *testing.T) {
		vol := v.cephCSIVolume(t)
		stageTimes = append(stageTimes, v.stage(t, vol))
		v.mountOptions(t, vol.staging, "ceph")
		target := filepath.Join(guestRun, "pods", "cephcsi")
		v.publish(t, vol, target, false)
		v.sh(t, "echo ok > "+target+"/file")
		v.unpublish(t, vol, target)
		v.unstage(t, vol)
	})

	t.Run("mount options through kernelMountOptions", func(t *testing.T) {
		vol := v.subvolume(t, "kernel-options", map[string]string{"mounter": "kernel"})
		var table []string
		for _, tc := range []struct {
			opts string
			want codes.Code // OK: the kernel mounts with them
		}{
			{"recover_session=clean", codes.OK},
			{"ms_mode=secure", codes.OK},
			{"ms_mode=crc", codes.OK},
			{"wsync", codes.OK},
			{"nowsync", codes.OK},
			{"noacl", codes.OK},
			{"rsize=1048576,rasize=4194304", codes.OK},
			{"readdir_max_entries=512,readdir_max_bytes=1048576", codes.OK},
			{"caps_max=1000", codes.OK},
			{"noasyncreaddir,nodcache", codes.OK},
			{"nocrc", codes.OK},
			{"noquotadf", codes.OK},
			{"nocopyfrom", codes.OK},
			{"noshare", codes.OK},
			{"mount_timeout=20", codes.OK},
			// Refused by the kernel (EINVAL): the volume must stay unstaged.
			{"no_such_option", codes.InvalidArgument},
			// Refused by the driver before any mount: they carry
			// credentials or select the filesystem.
			{"fs=other", codes.InvalidArgument},
			{"mds_namespace=other", codes.InvalidArgument},
			{"secretfile=/etc/passwd", codes.InvalidArgument},
		} {
			vol.context["kernelMountOptions"] = tc.opts
			v.sh(t, "mkdir -p "+vol.staging)
			_, err := v.node.NodeStageVolume(rpcContext(t), &csi.NodeStageVolumeRequest{
				VolumeId: vol.id, StagingTargetPath: vol.staging, VolumeCapability: rwCap,
				VolumeContext: vol.context, Secrets: v.secrets(),
			})
			got := status.Code(err)
			line := fmt.Sprintf("%-50s %s", tc.opts, got)
			if err == nil {
				line += "  " + v.mountOptions(t, vol.staging, "ceph")
				v.unstage(t, vol)
			} else {
				line += "  " + status.Convert(err).Message()
				if mounts := v.sh(t, "cat /proc/mounts"); strings.Contains(mounts, " "+vol.staging+" ") {
					t.Errorf("%s: mounted although NodeStage failed", tc.opts)
					v.unstage(t, vol)
				}
			}
			table = append(table, line)
			if got != tc.want {
				t.Errorf("kernelMountOptions %q: %v, want %s", tc.opts, err, tc.want)
			}
		}
		t.Logf("kernelMountOptions → NodeStage → the kernel's options:\n%s", strings.Join(table, "\n"))
	})

	t.Run("a shallow volume: a snapshot, mounted read-only", func(t *testing.T) {
		src := v.subvolume(t, "kernel-snapshotted", map[string]string{"mounter": "kernel"})
		v.stage(t, src)
		rw := filepath.Join(guestRun, "pods", "snapshotted")
		v.publish(t, src, rw, false)
		v.sh(t, "echo before > "+rw+"/file && sync")
		fs, group, name := v.cluster.FS, v.cluster.Group, src.context["subvolumeName"]
		if _, err := v.ceph("fs", "subvolume", "snapshot", "create", fs, name, "snap1", "--group_name", group); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if _, err := v.ceph("fs", "subvolume", "snapshot", "rm", fs, name, "snap1", "--group_name", group); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
		v.sh(t, "echo after > "+rw+"/file && sync")
		v.unpublish(t, src, rw)
		v.unstage(t, src)
		// The context the controller gives a shallow volume: the
		// snapshotted directory, and the snapshot's copy of the data in it.
		path := src.context["subvolumePath"]
		id, err := volumeid.Shallow{ClusterID: clusterID, FSName: fs, Name: "kernel-shallow"}.Encode()
		if err != nil {
			t.Fatal(err)
		}
		shallow := volume{
			id: id,
			context: map[string]string{
				"clusterID": clusterID, "fsName": fs, "mounter": "kernel", "subvolumePath": filepath.Dir(path),
				"backingSnapshotRoot": ".snap/snap1/" + filepath.Base(path), "backingSnapshotID": "kernel-e2e-snapshot",
			},
			staging:    filepath.Join(guestRun, "staging", "kernel-shallow"),
			capability: roxCap,
		}
		v.stage(t, shallow)
		if opts := v.mountOptions(t, shallow.staging, "ceph"); !hasMountOption(opts, "ro") {
			t.Errorf("the shallow volume's staging mount is not read-only: %s", opts)
		}
		target := filepath.Join(guestRun, "pods", "shallow")
		v.publish(t, shallow, target, true)
		if got := strings.TrimSpace(v.sh(t, "cat "+target+"/file")); got != "before" {
			t.Errorf("the shallow volume reads %q, want the snapshot's %q", got, "before")
		}
		if res := v.exec(t, "touch", target+"/new"); res.Code == 0 || !strings.Contains(res.Stderr, "Read-only file system") {
			t.Errorf("touch on the shallow volume: exit %d: %s", res.Code, res.Stderr)
		}
		v.unpublish(t, shallow, target)
		v.unstage(t, shallow)
	})

	t.Run("csi-sanity with the kernel mounter", func(t *testing.T) { sanityKernel(t, v) })

	t.Run("an evicted client: abnormal, then staged again", func(t *testing.T) {
		vol := v.subvolume(t, "kernel-evict", map[string]string{"mounter": "kernel"})
		v.stage(t, vol)
		target := filepath.Join(guestRun, "pods", "evict")
		v.publish(t, vol, target, false)
		v.sh(t, "echo before > "+target+"/file && sync")
		evicted := v.evictGuestClients(t)
		t.Logf("evicted the guest's client(s) %v", evicted)
		deadline := time.Now().Add(time.Minute)
		for {
			if h := v.health(t, vol, target); len(h) != 0 {
				t.Logf("health after the eviction: %v", h)
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no adverse health a minute after the eviction")
			}
			time.Sleep(time.Second)
		}
		v.unpublish(t, vol, target)
		begin := time.Now()
		v.stageAgain(t, vol)
		t.Logf("NodeStage replaced the evicted mount in %v", time.Since(begin).Round(time.Millisecond))
		v.publish(t, vol, target, false)
		if got := strings.TrimSpace(v.sh(t, "cat "+target+"/file")); got != "before" {
			t.Errorf("after the new stage the file holds %q, want %q", got, "before")
		}
		v.unpublish(t, vol, target)
		v.unstage(t, vol)
	})
}

// evictGuestClients evicts the MDS sessions of the guest's kernel client
// (by its hostname; the manager's own client stays) and returns their ids.
func (v *vm) evictGuestClients(t *testing.T) []string {
	t.Helper()
	rank := v.cluster.FS + ":0"
	out, err := v.ceph("tell", "mds."+rank, "client", "ls", "--format=json")
	if err != nil {
		t.Fatal(err)
	}
	var sessions []struct {
		ID       int64          `json:"id"`
		Metadata map[string]any `json:"client_metadata"`
	}
	if err := json.Unmarshal([]byte(out), &sessions); err != nil {
		t.Fatalf("client ls: %v: %s", err, out)
	}
	var ids []string
	for _, s := range sessions {
		host, _ := s.Metadata["hostname"].(string)
		if _, kernel := s.Metadata["kernel_version"]; kernel && strings.HasPrefix(host, "vm-") {
			id := strconv.FormatInt(s.ID, 10)
			if _, err := v.ceph("tell", "mds."+rank, "client", "evict", "id="+id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		t.Fatalf("no kernel client session of the guest among %s", out)
	}
	return ids
}

// cephCSIVolume makes a subvolume as ceph-csi names it and returns it with
// a ceph-csi handle and the volume context older ceph-csi versions
// recorded (no subvolume path: the node looks it up).
func (v *vm) cephCSIVolume(t *testing.T) volume {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	uuid := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	name := "csi-vol-" + uuid
	vol := v.subvolume(t, name, nil)
	out, err := v.ceph("fs", "dump", "--format=json")
	if err != nil {
		t.Fatal(err)
	}
	fscid, err := clusterdesc.FilesystemID([]byte(out), v.cluster.FS)
	if err != nil {
		t.Fatal(err)
	}
	vol.id = volumeid.CephCSI{ClusterID: clusterID, LocationID: fscid, UUID: uuid}.Encode()
	vol.context = map[string]string{"clusterID": clusterID, "fsName": v.cluster.FS, "subvolumeName": name, "mounter": "kernel"}
	return vol
}

// volume is a subvolume of the cluster and its staging path in the guest.
type volume struct {
	id      string
	context map[string]string
	staging string
	// capability is rwCap unless set.
	capability *csi.VolumeCapability
}

func (vol volume) access() *csi.VolumeCapability {
	if vol.capability != nil {
		return vol.capability
	}
	return rwCap
}

// subvolume creates a subvolume of quotaMiB and returns it as a static
// volume of the driver, with extra keys in its volume context.
func (v *vm) subvolume(t *testing.T, name string, extra map[string]string) volume {
	t.Helper()
	fs, group := v.cluster.FS, v.cluster.Group
	if _, err := v.ceph("fs", "subvolume", "create", fs, name, "--group_name", group, "--size", fmt.Sprint(quotaMiB<<20)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := v.ceph("fs", "subvolume", "rm", fs, name, "--group_name", group); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	path, err := v.ceph("fs", "subvolume", "getpath", fs, name, "--group_name", group)
	if err != nil {
		t.Fatal(err)
	}
	vc := map[string]string{
		"clusterID": clusterID, "fsName": fs, "subvolumeGroup": group,
		"subvolumeName": name, "subvolumePath": strings.TrimSpace(path),
	}
	for k, val := range extra {
		vc[k] = val
	}
	return volume{
		id:      strings.Join([]string{"cfs1", clusterID, fs, group, name}, ":"),
		context: vc,
		staging: filepath.Join(guestRun, "staging", name),
	}
}

var rwCap = &csi.VolumeCapability{
	AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
	AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
}

var roxCap = &csi.VolumeCapability{
	AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
	AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY},
}

func rpcContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func (v *vm) secrets() map[string]string {
	return map[string]string{"adminID": "admin", "adminKey": v.cluster.AdminKey}
}

// stage stages vol (the kubelet creates the staging directory) and returns
// how long NodeStageVolume took.
func (v *vm) stage(t *testing.T, vol volume) time.Duration {
	t.Helper()
	v.sh(t, "mkdir -p "+vol.staging)
	return v.stageAgain(t, vol)
}

// stageAgain calls NodeStageVolume on a staging path that exists (and may
// hold a dead mount, which even stat fails on).
func (v *vm) stageAgain(t *testing.T, vol volume) time.Duration {
	t.Helper()
	begin := time.Now()
	_, err := v.node.NodeStageVolume(rpcContext(t), &csi.NodeStageVolumeRequest{
		VolumeId: vol.id, StagingTargetPath: vol.staging, VolumeCapability: vol.access(),
		VolumeContext: vol.context, Secrets: v.secrets(),
	})
	if err != nil {
		t.Fatalf("NodeStageVolume %s: %v", vol.id, err)
	}
	return time.Since(begin)
}

func (v *vm) publish(t *testing.T, vol volume, target string, readonly bool) {
	t.Helper()
	_, err := v.node.NodePublishVolume(rpcContext(t), &csi.NodePublishVolumeRequest{
		VolumeId: vol.id, StagingTargetPath: vol.staging, TargetPath: target, VolumeCapability: vol.access(),
		Readonly: readonly, VolumeContext: vol.context,
	})
	if err != nil {
		t.Fatalf("NodePublishVolume %s on %s: %v", vol.id, target, err)
	}
}

func (v *vm) unpublish(t *testing.T, vol volume, target string) {
	t.Helper()
	if _, err := v.node.NodeUnpublishVolume(rpcContext(t), &csi.NodeUnpublishVolumeRequest{VolumeId: vol.id, TargetPath: target}); err != nil {
		t.Fatalf("NodeUnpublishVolume %s: %v", target, err)
	}
}

func (v *vm) unstage(t *testing.T, vol volume) {
	t.Helper()
	if _, err := v.node.NodeUnstageVolume(rpcContext(t), &csi.NodeUnstageVolumeRequest{VolumeId: vol.id, StagingTargetPath: vol.staging}); err != nil {
		t.Fatalf("NodeUnstageVolume %s: %v", vol.staging, err)
	}
}

func (v *vm) stats(t *testing.T, vol volume, path string) *csi.NodeGetVolumeStatsResponse {
	t.Helper()
	resp, err := v.node.NodeGetVolumeStats(rpcContext(t), &csi.NodeGetVolumeStatsRequest{VolumeId: vol.id, VolumePath: path})
	if err != nil {
		t.Fatalf("NodeGetVolumeStats %s: %v", path, err)
	}
	return resp
}

// health returns NodeGetVolumeHealth's entries for the volume published at path.
func (v *vm) health(t *testing.T, vol volume, path string) []*csi.VolumeHealth_VolumeHealthEntry {
	t.Helper()
	resp, err := v.node.NodeGetVolumeHealth(rpcContext(t), &csi.NodeGetVolumeHealthRequest{VolumeId: vol.id, VolumePublishPath: path})
	if err != nil {
		t.Fatalf("NodeGetVolumeHealth %s: %v", path, err)
	}
	return resp.GetVolumeHealth().GetHealthStatuses()
}

// mountOptions returns the options of the mount at path in the guest's
// /proc/mounts and fails unless its type is fstype.
func (v *vm) mountOptions(t *testing.T, path, fstype string) string {
	t.Helper()
	for _, line := range strings.Split(v.sh(t, "cat /proc/mounts"), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[1] == path {
			if f[2] != fstype {
				t.Fatalf("%s is a %s mount, want %s: %s", path, f[2], fstype, line)
			}
			return f[3]
		}
	}
	t.Fatal(errors.New(path + " is not mounted in the guest"))
	return ""
}

func hasMountOption(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}
