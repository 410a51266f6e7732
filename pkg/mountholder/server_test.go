package mountholder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/mounter"
)

const testKey = "AQBtestkeytestkeytestkeytestkeytestkey=="

// holder starts a Server on a socket in a temporary directory whose
// "ceph-fuse" is script: a shell script run with ceph-fuse's arguments
// ($1 is the target), and whose mount table is a file the script may
// write ($MOUNTINFO in the script). It returns the client, the server and
// the root below which it mounts.
func holder(t *testing.T, script string) (*Client, *Server, string) {
	t.Helper()
	dir := t.TempDir()
	table := filepath.Join(dir, "mountinfo")
	if err := os.WriteFile(table, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(dir, "fake-ceph-fuse")
	body := "#!/bin/sh\nMOUNTINFO=" + table + "\n" + script + "\n"
	if err := os.WriteFile(prog, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "kubelet")
	s := &Server{Root: root, KeyDir: filepath.Join(dir, "keys"), Program: prog, MountTimeout: 5 * time.Second, MountInfo: table}
	ctx, cancel := context.WithCancel(context.Background())
	socket := filepath.Join(dir, "holder", "holder.sock")
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, socket) }()
	c := &Client{Socket: socket}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := c.Mounts(context.Background()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the holder did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		s.mu.Lock()
		for _, m := range s.mounts {
			_ = syscall.Kill(m.PID, syscall.SIGKILL)
		}
		s.mu.Unlock()
	})
	return c, s, root
}

// mounts appends a FUSE line for the target to the table and stays up.
const mounts = `echo "40 1 0:99 / $1 rw,relatime - fuse.ceph-fuse ceph-fuse rw,user_id=0" >> "$MOUNTINFO"
exec sleep 600`

func request(opts ...string) mounter.Request {
	return mounter.Request{
		VolumeID: "cfs1:c1:myfs:csi:v",
		Monitors: []string{"10.0.0.1:3300"}, FSName: "myfs", Path: "/volumes/csi/v/uuid",
		Creds: contract.Credentials{ID: "csi-node", Key: testKey}, Options: opts,
	}
}

func TestMount(t *testing.T) {
	t.Parallel()
	c, s, root := holder(t, mounts)
	target := filepath.Join(root, "plugins", "kubernetes.io", "csi", "x", "globalmount")
	if err := c.Mount(context.Background(), request("noatime"), target); err != nil {
		t.Fatal(err)
	}
	list, err := c.Mounts(context.Background())
	if err != nil || len(list) != 1 || list[0].Target != target || list[0].PID == 0 {
		t.Fatalf("Mounts() = %+v, %v", list, err)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", list[0].PID))
	if err == nil && strings.Contains(string(cmdline), testKey) {
		t.Error("the key is in the process's arguments")
	}
	if left, _ := os.ReadDir(s.KeyDir); len(left) != 0 {
		t.Errorf("key files left: %v", left)
	}
	// A node plugin started since gets back what the mount was made with.
	held, err := c.Held(context.Background())
	if err != nil || len(held) != 1 || held[0].Target != target || !reflect.DeepEqual(held[0].Request, request("noatime")) {
		t.Fatalf("Held() = %+v, %v; want %s made with %+v", held, err, target, request("noatime"))
	}
	// A second mount there is refused while the first runs.
	if err := c.Mount(context.Background(), request(), target); !errors.Is(err, contract.ErrBusy) {
		t.Errorf("second mount: %v, want ErrBusy", err)
	}
	// The process's end (an unmount ends ceph-fuse) makes the holder forget it.
	if err := syscall.Kill(list[0].PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		list, _ = c.Mounts(context.Background())
		if len(list) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still listed after the process ended: %+v", list)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMountArguments(t *testing.T) {
	t.Parallel()
	// The script records its arguments and the keyring it was given.
	c, _, root := holder(t, `printf '%s\n' "$@" > "$MOUNTINFO.args"
keyring=$(awk 'prev == "--keyring" { print } { prev = $0 }' "$MOUNTINFO.args"); cat "$keyring" > "$MOUNTINFO.keyring"
`+mounts)
	target := filepath.Join(root, "t")
	if err := c.Mount(context.Background(), request("noatime"), target); err != nil {
		t.Fatal(err)
	}
	table := filepath.Join(filepath.Dir(root), "mountinfo")
	args, err := os.ReadFile(table + ".args")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(args))
	want := []string{target, "-c", "/dev/null", "-m", "10.0.0.1:3300", "--id", "csi-node", "--keyring"}
	if len(got) < len(want) || strings.Join(got[:len(want)], " ") != strings.Join(want, " ") || got[len(got)-1] != "-f" ||
		!strings.Contains(string(args), "--client_fs\nmyfs\n-r\n/volumes/csi/v/uuid\n-o\nnoatime\n") {
		t.Errorf("ceph-fuse arguments:\n%s", args)
	}
	keyring, err := os.ReadFile(table + ".keyring")
	if err != nil || !strings.Contains(string(keyring), "[client.csi-node]") || !strings.Contains(string(keyring), testKey) {
		t.Errorf("keyring given to ceph-fuse: %q, %v", keyring, err)
	}
}

func TestMountRefused(t *testing.T) {
	t.Parallel()
	c, _, root := holder(t, mounts)
	for name, tc := range map[string]struct {
		target string
		req    mounter.Request
	}{
		"outside the root":  {"/etc/x", request()},
		"escaping the root": {root + "/../x", request()},
		"relative":          {"x/y", request()},
		"no key":            {root + "/k", func() mounter.Request { r := request(); r.Creds.Key = ""; return r }()},
		"no monitors":       {root + "/m", func() mounter.Request { r := request(); r.Monitors = nil; return r }()},
		"two monitors in one": {root + "/m2", func() mounter.Request {
			r := request()
			r.Monitors = []string{"a:1,b:2"}
			return r
		}()},
		"a reserved option": {root + "/o", request("keyring=/etc/shadow")},
	} {
		if err := c.Mount(context.Background(), tc.req, tc.target); !errors.Is(err, contract.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestMountFails(t *testing.T) {
	t.Parallel()
	c, _, root := holder(t, `echo "ceph-fuse: no such filesystem" >&2; exit 1`)
	err := c.Mount(context.Background(), request(), filepath.Join(root, "t"))
	if err == nil || !strings.Contains(err.Error(), "no such filesystem") {
		t.Errorf("a failing ceph-fuse: %v", err)
	}
	if list, _ := c.Mounts(context.Background()); len(list) != 0 {
		t.Errorf("a failed mount is listed: %+v", list)
	}
}

func TestMountTimeout(t *testing.T) {
	t.Parallel()
	c, _, root := holder(t, `exec sleep 600`) // never mounts
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	begin := time.Now()
	err := c.Mount(ctx, request(), filepath.Join(root, "t"))
	if err == nil || !strings.Contains(err.Error(), "not mounted after") {
		t.Errorf("a mount that never comes up: %v", err)
	}
	if took := time.Since(begin); took > 4*time.Second {
		t.Errorf("took %v: the request's deadline was not passed on", took)
	}
	if list, _ := c.Mounts(context.Background()); len(list) != 0 {
		t.Errorf("a timed-out mount is listed: %+v", list)
	}
	if held, _ := c.Held(context.Background()); len(held) != 0 {
		t.Errorf("a timed-out mount is held: %+v", held)
	}
}

func TestHolderUnreachable(t *testing.T) {
	t.Parallel()
	c := &Client{Socket: filepath.Join(t.TempDir(), "none.sock")}
	if err := c.Mount(context.Background(), request(), "/var/lib/kubelet/x"); !errors.Is(err, contract.ErrUnavailable) {
		t.Errorf("no holder: %v, want ErrUnavailable", err)
	}
	if _, err := c.Held(context.Background()); !errors.Is(err, contract.ErrUnavailable) {
		t.Errorf("no holder, Held: %v, want ErrUnavailable", err)
	}
}
