package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

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
			if fields[3] == "stats" && !strings.Contains(stdout, "health     no adverse condition known") {
				t.Errorf("stats: want a healthy volume:\n%s", stdout)
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
