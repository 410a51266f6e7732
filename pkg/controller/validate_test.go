package controller

import (
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/server"
)

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`[{"clusterID":"c1","monitors":["127.0.0.1:3300"],"cephFS":{"subvolumeGroup":"grp"}},{"clusterID":"c2","monitors":["127.0.0.1:3301"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestParseParams(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	base := func(extra map[string]string) map[string]string {
		m := map[string]string{"clusterID": "c1", "fsName": "myfs"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name   string
		params map[string]string
		want   codes.Code
		msg    string // in the error
		check  func(*testing.T, *volumeParams)
	}{
		{name: "minimal, group from cluster config", params: base(nil), check: func(t *testing.T, p *volumeParams) {
			if p.group != "grp" || p.namePrefix != "csi-vol-" || p.uid != -1 || p.mode != 0 {
				t.Errorf("defaults wrong: %+v", p)
			}
		}},
		{name: "group default csi", params: map[string]string{"clusterID": "c2", "fsName": "myfs"}, check: func(t *testing.T, p *volumeParams) {
			if p.group != "csi" {
				t.Errorf("group = %q", p.group)
			}
		}},
		{name: "everything", params: base(map[string]string{
			"pool": "data1", "subvolumeGroup": "g2", "volumeNamePrefix": "pv-", "mounter": "fuse",
			"kernelMountOptions": "noatime", "fuseMountOptions": "debug", "mode": "0775", "uid": "1000", "gid": "2000",
			"csi.storage.k8s.io/provisioner-secret-name": "s", "csi.storage.k8s.io/pvc/name": "p",
		}), check: func(t *testing.T, p *volumeParams) {
			if p.pool != "data1" || p.group != "g2" || p.namePrefix != "pv-" || p.mode != 0o775 || p.uid != 1000 || p.gid != 2000 {
				t.Errorf("parsed wrong: %+v", p)
			}
		}},
		{name: "missing clusterID", params: map[string]string{"fsName": "myfs"}, want: codes.InvalidArgument},
		{name: "missing fsName", params: map[string]string{"clusterID": "c1"}, want: codes.InvalidArgument},
		{name: "unknown cluster", params: map[string]string{"clusterID": "nope", "fsName": "myfs"}, want: codes.InvalidArgument},
		{name: "unknown key", params: base(map[string]string{"fsname": "typo"}), want: codes.InvalidArgument},
		{name: "bad mounter", params: base(map[string]string{"mounter": "nfs"}), want: codes.InvalidArgument},
		{name: "bad mode", params: base(map[string]string{"mode": "999"}), want: codes.InvalidArgument},
		{name: "zero mode", params: base(map[string]string{"mode": "0"}), want: codes.InvalidArgument},
		{name: "negative uid", params: base(map[string]string{"uid": "-1"}), want: codes.InvalidArgument},
		{name: "option injection", params: base(map[string]string{"kernelMountOptions": "noatime,secretfile=/etc/shadow"}), want: codes.InvalidArgument},
		{name: "group with slash", params: base(map[string]string{"subvolumeGroup": "../x"}), want: codes.InvalidArgument},
		{name: "ceph-csi keys without effect", params: base(map[string]string{
			"encrypted": "false", "encryptionKMSID": "vault", "encryptionType": "file", "snapshotNamePrefix": "csi-snap-",
			"netNamespaceFilePath": "/var/lib/kubelet/plugins/cephfs.csi.ceph.com/net", "readAffinity": "true",
			"crushLocationLabels": "topology.kubernetes.io/zone", "extraDeploy": "", "csiProvisionerSecretName": "s",
		}), check: func(t *testing.T, p *volumeParams) {
			if len(p.ignored) != 6 || p.namePrefix != "csi-vol-" || p.pool != "" {
				t.Errorf("parsed wrong: %+v", p)
			}
		}},
		{name: "encrypted", params: base(map[string]string{"encrypted": "true"}), want: codes.InvalidArgument, msg: "encrypted=\"true\""},
		{name: "encrypted with a KMS", params: base(map[string]string{"encrypted": "True", "encryptionKMSID": "vault"}), want: codes.InvalidArgument, msg: "encryptionKMSID=\"vault\""},
		{name: "encrypted not a boolean", params: base(map[string]string{"encrypted": "yes"}), want: codes.InvalidArgument, msg: "want \"true\" or \"false\""},
		{name: "a flag of ceph-csi is no key", params: base(map[string]string{"pidlimit": "-1"}), want: codes.InvalidArgument, msg: "\"pidlimit\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := parseParams(tt.params, cfg)
			if got := server.Code(err); got != tt.want {
				t.Fatalf("code = %v (%v), want %v", got, err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

func TestQuotaFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		req, lim int64
		want     int64
		code     codes.Code
	}{
		{"default", 0, 0, DefaultSize, codes.OK},
		{"exact", 8 * mib, 0, 8 * mib, codes.OK},
		{"round up", 5 * mib, 0, 8 * mib, codes.OK},
		{"one byte", 1, 0, 4 * mib, codes.OK},
		{"limit caps default", 0, 100 * mib, 100 * mib, codes.OK},
		{"limit caps default, rounded down", 0, 101 * mib, 100 * mib, codes.OK},
		{"rounded above limit", 5 * mib, 6 * mib, 0, codes.OutOfRange},
		{"limit below unit", 0, 1 * mib, 0, codes.OutOfRange},
		{"required above limit", 10 * mib, 5 * mib, 0, codes.InvalidArgument},
		{"negative", -1, 0, 0, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := quotaFor(&csi.CapacityRange{RequiredBytes: tt.req, LimitBytes: tt.lim})
			if server.Code(err) != tt.code || got != tt.want {
				t.Errorf("quotaFor(%d, %d) = %d, %v; want %d, %v", tt.req, tt.lim, got, err, tt.want, tt.code)
			}
		})
	}
}

func TestValidateCapabilities(t *testing.T) {
	t.Parallel()
	mount := func(m csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
		return &csi.VolumeCapability{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: m},
		}
	}
	for m := range csi.VolumeCapability_AccessMode_Mode_name {
		mode := csi.VolumeCapability_AccessMode_Mode(m)
		if mode == csi.VolumeCapability_AccessMode_UNKNOWN {
			continue
		}
		if err := validateCapabilities([]*csi.VolumeCapability{mount(mode)}); err != nil {
			t.Errorf("mode %v refused: %v", mode, err)
		}
	}
	block := &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
	for name, caps := range map[string][]*csi.VolumeCapability{
		"none":    nil,
		"block":   {block},
		"no mode": {{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}}}},
	} {
		if server.Code(validateCapabilities(caps)) != codes.InvalidArgument {
			t.Errorf("%s: accepted", name)
		}
	}
}
