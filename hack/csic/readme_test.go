package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/hack/internal/runfiles"
	"github.com/cephfs-csi/cephfs-csi/pkg/driver"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// readmeTarget is the mount point the README's lines use; the test mounts
// in a directory of its own instead.
const readmeTarget = "/mnt/demo"

// readmeBlocks are the shell blocks of README.md's "First five minutes",
// comments dropped: the lines a newcomer copies.
func readmeBlocks(t *testing.T) [][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testcluster.Root(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## First five minutes\n")
	if !ok {
		t.Fatal(`README.md has no "## First five minutes" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var blocks [][]string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1) {
		var lines []string
		for _, line := range strings.Split(m[1], "\n") {
			line, _, _ = strings.Cut(line, "#")
			if line = strings.TrimSpace(line); line != "" {
				lines = append(lines, line)
			}
		}
		blocks = append(blocks, lines)
	}
	if len(blocks) < 2 {
		t.Fatalf("README.md's first five minutes: %d shell blocks, want the example and the clean-up", len(blocks))
	}
	return blocks
}

// TestMakeRunPrintsTheReadmeExample keeps make run's three lines and the
// README's the same.
func TestMakeRunPrintsTheReadmeExample(t *testing.T) {
	t.Parallel()
	makefile, err := os.ReadFile(filepath.Join(testcluster.Root(), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	example := readmeBlocks(t)[0]
	if len(example) != 3 {
		t.Errorf("README's example has %d lines, want 3: %q", len(example), example)
	}
	for _, line := range example {
		if !strings.Contains(string(makefile), `@echo "  `+line+`"`) {
			t.Errorf("make run does not print the README's line %q", line)
		}
	}
}

// TestFirstFiveMinutes runs the README's lines, as written, against the
// driver laid out as make run lays it out (the files of hack/runconfig, the
// socket beside them, in _build/run under the current directory): a volume
// is made, mounted, written to, looked at and deleted, and no command
// prints a secret.
func TestFirstFiveMinutes(t *testing.T) {
	h := startAsMakeRun(t)
	target := filepath.Join(t.TempDir(), "demo")
	// The cluster may be make run's, with a newcomer's own demo on it:
	// volume names decide subvolume names, so the test's are its own.
	demo := h.unique("demo")
	t.Cleanup(func() {
		// After a failure: what the lines made must not outlive the test.
		h.csic(t, "unmount", demo, target)
		h.csic(t, "snapshot", "delete", demo+"-snap")
		h.csic(t, "delete", demo)
	})
	csic := h.csic
	cl := h.cluster

	blocks := readmeBlocks(t)
	var volumeID string
	for _, line := range slices.Concat(blocks...) {
		line = strings.ReplaceAll(line, readmeTarget, target)
		fields := strings.Fields(line)
		for i, f := range fields {
			if f == "demo" || strings.HasPrefix(f, "demo-") {
				fields[i] = demo + strings.TrimPrefix(f, "demo")
			}
		}
		line = strings.Join(fields, " ")
		switch {
		case strings.HasPrefix(line, "go run ./hack/csic "):
			stdout, stderr, code := csic(t, fields[3:]...)
			if code != 0 {
				t.Fatalf("%s: exit %d\n%s%s", line, code, stdout, stderr)
			}
			t.Logf("%s\n%s", line, stdout)
			if fields[3] == "create" {
				volumeID = field(t, stdout, "id")
				if got := field(t, stdout, "capacity"); got != "1 GiB" {
					t.Errorf("create: capacity %q, want 1 GiB", got)
				}
			}
			if fields[3] == "mount" {
				// What the newcomer does next: write to it.
				if err := os.WriteFile(filepath.Join(target, "hello"), []byte("hello\n"), 0o600); err != nil {
					t.Fatalf("writing to the mounted volume: %v", err)
				}
			}
			if fields[3] == "stats" && !strings.Contains(stdout, "condition  normal") {
				t.Errorf("stats: want a normal condition:\n%s", stdout)
			}
		case fields[0] == "df":
			var st syscall.Statfs_t
			if err := syscall.Statfs(fields[len(fields)-1], &st); err != nil {
				t.Fatal(err)
			}
			if total := int64(st.Blocks) * st.Bsize; total != 1<<30 {
				t.Errorf("%s: %d bytes in all, want the quota, 1 GiB", line, total)
			}
		default:
			t.Fatalf("README line %q: not a csic or df command", line)
		}
	}

	if volumeID == "" {
		t.Fatal("the README's lines create no volume")
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("after unmount, %s: %v; want it gone", target, err)
	}
	if n := cl.CountSubvolumes(t, volumeID); n != 0 {
		t.Errorf("after delete, %d subvolumes for %s", n, volumeID)
	}
}

// field reads "key   value" from csic's output.
func field(t *testing.T, out, key string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %q in:\n%s", key, out)
	return ""
}

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
	if out := h.must(t, "stats", id, target); !strings.Contains(out, "bytes ") || !strings.Contains(out, "256 MiB in all") {
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
