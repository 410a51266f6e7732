package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/hack/internal/runfiles"
	"github.com/cephfs-csi/cephfs-csi/pkg/driver"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// harness is a driver laid out as make run lays it out (the files of
// hack/runconfig, the socket beside them, in _build/run under the current
// directory), and csic run in-process against it.
type harness struct {
	cluster *testcluster.Cluster
	clients *testcluster.Clients
	runDir  string
	suffix  string
	printed bytes.Buffer
}

// unique makes a volume or snapshot name no other run uses.
func (h *harness) unique(name string) string { return name + "-" + h.suffix }

func startAsMakeRun(t *testing.T) *harness {
	t.Helper()
	h := &harness{cluster: testcluster.Get(t)}
	testcluster.RequireRoot(t, "csic mounts")
	repo := t.TempDir()
	h.runDir = filepath.Join(repo, "_build", "run")
	if err := runfiles.Write(h.cluster.Dir, h.runDir); err != nil {
		t.Fatal(err)
	}
	h.clients = h.cluster.StartDriver(t, func(o *driver.Options) {
		o.Endpoint = "unix://" + filepath.Join(h.runDir, runfiles.Socket)
		o.ClusterConfig = filepath.Join(h.runDir, runfiles.Config)
		o.ControllerSecretDir = filepath.Join(h.runDir, runfiles.ControllerSecretDir)
	})
	t.Chdir(repo)
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	h.suffix = hex.EncodeToString(b[:])
	// Registered first, so it runs last: after every clean-up command.
	t.Cleanup(func() {
		if strings.Contains(h.printed.String(), h.cluster.AdminKey) {
			t.Errorf("csic printed the admin key")
		}
	})
	return h
}

// csic runs one command line and returns its output and exit code.
func (h *harness) csic(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	h.printed.Write(out.Bytes())
	h.printed.Write(errOut.Bytes())
	return out.String(), errOut.String(), code
}

// must runs a command that must succeed.
func (h *harness) must(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := h.csic(t, args...)
	if code != 0 {
		t.Fatalf("csic %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// TestCommands drives the commands the README does not: the four node
// calls one by one, snapshots, a restore, the volume list, and errors that
// carry the driver's gRPC code.
func TestCommands(t *testing.T) {
	h := startAsMakeRun(t)
	vol, snap, restored := h.unique("vol"), h.unique("snap"), h.unique("restored")
	dir := t.TempDir()
	staging, target := filepath.Join(dir, "staging"), filepath.Join(dir, "pods", "target")
	var id string
	t.Cleanup(func() {
		if id != "" {
			h.csic(t, "-state-dir", filepath.Join(dir, "state"), "unmount", id, filepath.Join(dir, "elsewhere"))
		}
		h.csic(t, "unpublish", vol, target)
		h.csic(t, "unstage", vol, staging)
		h.csic(t, "unmount", restored, filepath.Join(dir, restored))
		h.csic(t, "delete", restored)
		h.csic(t, "snapshot", "delete", snap)
		h.csic(t, "delete", vol)
	})

	created := h.must(t, "create", vol, "256Mi")
	id = field(t, created, "id")
	h.must(t, "stage", vol, staging)
	h.must(t, "publish", vol, staging, target)
	if err := os.WriteFile(filepath.Join(target, "data"), []byte("kept\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := h.must(t, "stats", id, target); !strings.Contains(out, "256 MiB in all") || !figuresKnown(out) {
		t.Errorf("stats by ID:\n%s", out)
	}

	snapID := field(t, h.must(t, "snapshot", "create", snap, vol), "id")
	if out := h.must(t, "snapshot", "list", "-volume", vol); !strings.Contains(out, snapID) || !strings.Contains(out, "1 snapshots") {
		t.Errorf("snapshot list -volume vol:\n%s", out)
	}
	// Flags after the arguments, a size smaller than the source refused.
	_, stderr, code := h.csic(t, "create", restored, "1Mi", "-from-snapshot", snap)
	if code != 1 || !strings.Contains(stderr, "CreateVolume "+restored+": OutOfRange: ") {
		t.Errorf("restore smaller than the snapshot: exit %d, %q; want OutOfRange", code, stderr)
	}
	if out := h.must(t, "create", restored, "256Mi", "-from-snapshot", snapID); field(t, out, "capacity") != "256 MiB" {
		t.Errorf("restore:\n%s", out)
	}
	restoredAt := filepath.Join(dir, restored)
	h.must(t, "mount", restored, restoredAt)
	if data, err := os.ReadFile(filepath.Join(restoredAt, "data")); err != nil || string(data) != "kept\n" {
		t.Errorf("the restored volume's file: %q, %v", data, err)
	}
	h.must(t, "unmount", restored, restoredAt)
	// By ID: the name csic gave it is forgotten all the same.
	h.must(t, "snapshot", "delete", snapID)
	if left, _ := filepath.Glob(filepath.Join(h.runDir, "csic", "snapshots", "*")); len(left) != 0 {
		t.Errorf("snapshot records left after its deletion: %v", left)
	}

	// ListVolumes, where the driver offers it; otherwise its precise no.
	caps, err := h.clients.Controller.ControllerGetCapabilities(context.Background(), &csi.ControllerGetCapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	listed := slices.ContainsFunc(caps.GetCapabilities(), func(c *csi.ControllerServiceCapability) bool {
		return c.GetRpc().GetType() == csi.ControllerServiceCapability_RPC_LIST_VOLUMES
	})
	stdout, stderr, code := h.csic(t, "list", "-page-size", "1")
	switch {
	case listed && (code != 0 || !strings.Contains(stdout, id)):
		t.Errorf("list: exit %d\n%s%s; want %s listed", code, stdout, stderr, id)
	case !listed && (code != 1 || !strings.Contains(stderr, "ListVolumes: Unimplemented: ")):
		t.Errorf("list without LIST_VOLUMES: exit %d, %q; want Unimplemented", code, stderr)
	}

	// The same volume by ID from a state directory that knows nothing of
	// it: the volume context comes from -context, as for a volume created
	// elsewhere.
	path, fsName, _ := strings.Cut(field(t, created, "path"), " (in filesystem ")
	elsewhere := filepath.Join(dir, "elsewhere")
	h.must(t, "-state-dir", filepath.Join(dir, "state"), "mount", id, elsewhere, "-readonly",
		"-context", "clusterID="+runfiles.ClusterID, "-context", "fsName="+strings.TrimSuffix(fsName, ")"),
		"-context", "subvolumePath="+path)
	if data, err := os.ReadFile(filepath.Join(elsewhere, "data")); err != nil || string(data) != "kept\n" {
		t.Errorf("mounted by ID with -context: %q, %v", data, err)
	}
	if err := os.WriteFile(filepath.Join(elsewhere, "more"), nil, 0o600); err == nil {
		t.Errorf("mount -readonly: the mount takes writes")
	}
	h.must(t, "-state-dir", filepath.Join(dir, "state"), "unmount", id, elsewhere)

	h.must(t, "unpublish", vol, target)
	h.must(t, "unstage", vol, staging)
	if data, err := os.ReadFile(filepath.Join(target, "data")); err == nil {
		t.Errorf("after unpublish the target still shows the volume's file: %q", data)
	}
	h.must(t, "delete", restored)
	h.must(t, "delete", vol)
	if n := h.cluster.CountSubvolumes(t, id); n != 0 {
		t.Errorf("after delete, %d subvolumes for %s", n, id)
	}

	// An ID csic did not create has no volume context: the driver says
	// what is missing, and mount leaves no staging directory behind.
	_, stderr, code = h.csic(t, "mount", id, filepath.Join(dir, "other"))
	if code != 1 || !strings.Contains(stderr, "NodeStageVolume "+id) || !strings.Contains(stderr, ": InvalidArgument: ") {
		t.Errorf("mount of a bare ID: exit %d, %q; want InvalidArgument from NodeStageVolume", code, stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(h.runDir, "csic", "staging", "*")); len(left) != 0 {
		t.Errorf("staging directories left behind: %v", left)
	}
}

// figuresKnown says whether stats printed its bytes and inodes lines with no
// unknown (-1) figure. Only those lines: the volume's name, on the first
// line, ends in a random hex suffix that may well start with "1".
func figuresKnown(stats string) bool {
	seen := 0
	for line := range strings.Lines(stats) {
		fields := strings.Fields(line)
		if len(fields) == 0 || (fields[0] != "bytes" && fields[0] != "inodes") {
			continue
		}
		if slices.Contains(fields, "-1") {
			return false
		}
		seen++
	}
	return seen == 2
}

func TestFiguresKnown(t *testing.T) {
	const volume = "volume     vol-1e3b4d60 (cfs1:embedded:myfs:csi:csi-vol-x) at /tmp/t\n"
	for out, want := range map[string]bool{
		volume + "bytes      0 B used, 256 MiB available, 256 MiB in all\ninodes     2 used, no limit\n":  true,
		volume + "bytes      -1 B used, 256 MiB available, 256 MiB in all\ninodes     2 used, no limit\n": false,
		volume + "bytes      0 B used, 256 MiB available, 256 MiB in all\ninodes     -1 used, no limit\n": false,
		volume + "bytes      0 B used, 256 MiB available, 256 MiB in all\n":                               false,
	} {
		if got := figuresKnown(out); got != want {
			t.Errorf("figuresKnown(%q) = %v, want %v", out, got, want)
		}
	}
}
