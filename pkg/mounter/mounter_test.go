package mounter

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	mount "k8s.io/mount-utils"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

const testKey = "AQBzV1FnAAAAABAAx7tS0cLsO9fcQ4rN1f0XWQ=="

func testRequest(opts ...string) Request {
	return Request{
		// Plain addresses, as config.Cluster.MonitorAddrs makes them from
		// "v2:10.0.0.1:3300" and "[v2:10.0.0.2:3300,v1:10.0.0.2:6789]".
		Monitors:      []string{"10.0.0.1:3300", "10.0.0.2:3300", "10.0.0.2:6789"},
		Msgr2Monitors: []string{"10.0.0.1:3300", "10.0.0.2:3300"},
		FSName:        "myfs",
		Path:          "/volumes/csi/csi-vol-x/uuid",
		Creds:         contract.Credentials{ID: "csi-node", Key: testKey},
		Options:       opts,
	}
}

// checkKeyFile asserts the key file is private and holds want.
func checkKeyFile(t *testing.T, path, want string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %o", fi.Mode().Perm())
	}
	if data, _ := os.ReadFile(path); string(data) != want {
		t.Errorf("key file content %q, want %q", data, want)
	}
}

func TestFuseMount(t *testing.T) {
	t.Parallel()
	keyDir := t.TempDir()
	var gotArgs []string
	f := &Fuse{KeyDir: keyDir, Run: func(_ context.Context, name string, args ...string) ([]byte, error) {
		if name != "ceph-fuse" {
			t.Errorf("ran %s", name)
		}
		gotArgs = args
		i := slices.Index(args, "--keyring")
		checkKeyFile(t, args[i+1], "[client.csi-node]\n\tkey = "+testKey+"\n")
		return nil, nil
	}}
	if err := f.Mount(context.Background(), testRequest("debug", "noatime"), "/stage"); err != nil {
		t.Fatal(err)
	}
	want := []string{"/stage", "-c", "/dev/null", "-m", "10.0.0.1:3300,10.0.0.2:3300,10.0.0.2:6789",
		"--id", "csi-node", "--keyring", gotArgs[slices.Index(gotArgs, "--keyring")+1],
		"--client_fs", "myfs", "-r", "/volumes/csi/csi-vol-x/uuid", "-o", "debug,noatime"}
	if !slices.Equal(gotArgs, want) {
		t.Errorf("args\n got %q\nwant %q", gotArgs, want)
	}
	if strings.Contains(strings.Join(gotArgs, " "), testKey) {
		t.Error("key on the command line")
	}
	if left, _ := os.ReadDir(keyDir); len(left) != 0 {
		t.Errorf("key files left behind: %v", left)
	}
}

func TestFuseMountFailureCleansKey(t *testing.T) {
	t.Parallel()
	keyDir := t.TempDir()
	f := &Fuse{KeyDir: keyDir, Run: func(context.Context, string, ...string) ([]byte, error) {
		return []byte("ceph-fuse[1]: fuse failed to start"), errors.New("exit status 1")
	}}
	err := f.Mount(context.Background(), testRequest(), "/stage")
	if err == nil || !strings.Contains(err.Error(), "fuse failed to start") {
		t.Fatalf("error = %v", err)
	}
	if left, _ := os.ReadDir(keyDir); len(left) != 0 {
		t.Errorf("key files left behind: %v", left)
	}
}

// inspectingMounter checks the secret file while the mount runs.
type inspectingMounter struct {
	*mount.FakeMounter
	check func(source string, opts []string)
}

func (m *inspectingMounter) Mount(source, target, fstype string, opts []string) error {
	m.check(source, opts)
	return m.FakeMounter.Mount(source, target, fstype, opts)
}

func TestKernelMount(t *testing.T) {
	t.Parallel()
	keyDir := t.TempDir()
	var gotSource string
	var gotOpts []string
	m := &inspectingMounter{FakeMounter: mount.NewFakeMounter(nil), check: func(source string, opts []string) {
		gotSource, gotOpts = source, opts
		for _, o := range opts {
			if f, ok := strings.CutPrefix(o, "secretfile="); ok {
				checkKeyFile(t, f, testKey)
			}
		}
	}}
	k := &Kernel{Mounter: m, KeyDir: keyDir}
	if err := k.Mount(context.Background(), testRequest("noatime"), "/stage"); err != nil {
		t.Fatal(err)
	}
	// msgr2 (ms_mode=prefer-crc): the msgr2 monitors only.
	if want := "10.0.0.1:3300,10.0.0.2:3300:/volumes/csi/csi-vol-x/uuid"; gotSource != want {
		t.Errorf("source %q, want %q", gotSource, want)
	}
	if len(gotOpts) != 5 || gotOpts[0] != "name=csi-node" || !strings.HasPrefix(gotOpts[1], "secretfile="+keyDir) ||
		gotOpts[2] != "mds_namespace=myfs" || gotOpts[3] != "ms_mode=prefer-crc" || gotOpts[4] != "noatime" {
		t.Errorf("options %q", gotOpts)
	}
	if strings.Contains(strings.Join(gotOpts, ","), testKey) {
		t.Error("key in mount options")
	}
	if left, _ := os.ReadDir(keyDir); len(left) != 0 {
		t.Errorf("key files left behind: %v", left)
	}
}

// TestKernelMessenger: the source holds the monitors of the protocol the
// options choose, and ms_mode=prefer-crc is added only for msgr2 monitors
// and no ms_mode of the user's.
func TestKernelMessenger(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		mons, v2   []string
		opts       []string
		wantSource string
		wantMode   string // the ms_mode option in the result, "" for none
	}{
		{"msgr2 monitors", []string{"a:3300", "b:6789"}, []string{"a:3300"}, nil, "a:3300:/p", "ms_mode=prefer-crc"},
		{"msgr1 monitors only", []string{"a:6789"}, nil, nil, "a:6789:/p", ""},
		{"the user's secure mode", []string{"a:3300", "b:6789"}, []string{"a:3300"}, []string{"ms_mode=secure"}, "a:3300:/p", "ms_mode=secure"},
		{"the user's legacy mode", []string{"a:3300", "b:6789"}, []string{"a:3300"}, []string{"ms_mode=legacy"}, "b:6789:/p", "ms_mode=legacy"},
		{"legacy with msgr2 monitors only", []string{"a:3300"}, []string{"a:3300"}, []string{"ms_mode=legacy"}, "a:3300:/p", "ms_mode=legacy"},
		{"a mode for msgr1 monitors", []string{"a:6789"}, nil, []string{"ms_mode=crc"}, "a:6789:/p", "ms_mode=crc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := Request{Monitors: tc.mons, Msgr2Monitors: tc.v2, FSName: "fs", Path: "/p", Creds: contract.Credentials{ID: "u"}, Options: tc.opts}
			source, opts := (&Kernel{}).SourceAndOptions(req, "/k")
			if source != tc.wantSource {
				t.Errorf("source %q, want %q", source, tc.wantSource)
			}
			var modes []string
			for _, o := range opts {
				if strings.HasPrefix(o, "ms_mode") {
					modes = append(modes, o)
				}
			}
			if want := []string{tc.wantMode}; tc.wantMode == "" && len(modes) != 0 || tc.wantMode != "" && !slices.Equal(modes, want) {
				t.Errorf("ms_mode options %q, want %q", modes, tc.wantMode)
			}
		})
	}
}

func TestKernelSupported(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	with := filepath.Join(dir, "with")
	without := filepath.Join(dir, "without")
	_ = os.WriteFile(with, []byte("nodev\tsysfs\nnodev\tceph\n\text4\n"), 0o644)
	_ = os.WriteFile(without, []byte("nodev\tsysfs\nnodev\tfuse\n\text4\n"), 0o644)
	modprobeCalls := 0
	failing := func(context.Context, string, ...string) ([]byte, error) {
		modprobeCalls++
		return nil, errors.New("modprobe: FATAL: Module ceph not found")
	}
	if !KernelSupported(context.Background(), failing, with) || modprobeCalls != 0 {
		t.Error("ceph in /proc/filesystems not detected")
	}
	if KernelSupported(context.Background(), failing, without) || modprobeCalls != 1 {
		t.Error("missing ceph support not detected")
	}
	// modprobe succeeds and the filesystem then appears.
	loads := func(context.Context, string, ...string) ([]byte, error) {
		return nil, os.WriteFile(without, []byte("nodev\tceph\n"), 0o644)
	}
	if !KernelSupported(context.Background(), loads, without) {
		t.Error("module load not noticed")
	}
}

func TestRemoveKeyFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"keyring-1", "secret-2", "other"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("k"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, err := RemoveKeyFiles(dir)
	if err != nil || n != 2 {
		t.Fatalf("RemoveKeyFiles = %d, %v", n, err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 || left[0].Name() != "other" {
		t.Errorf("left %v", left)
	}
	if n, err := RemoveKeyFiles(filepath.Join(dir, "missing")); err != nil || n != 0 {
		t.Errorf("missing dir: %d, %v", n, err)
	}
}

func TestEnforcesQuotas(t *testing.T) {
	t.Parallel()
	for release, want := range map[string]bool{
		"6.1.0-56-amd64": true, "4.17.0": true, "4.18.0-553.el8_10.x86_64": true, "5.4": true,
		"4.16.18": false, "4.9.0-19-amd64": false, "3.10.0-1160.el7.x86_64": false,
		"": true, "weird": true,
	} {
		if got := enforcesQuotas(release); got != want {
			t.Errorf("enforcesQuotas(%q) = %v, want %v", release, got, want)
		}
	}
}

// failingMounter fails every mount with err.
type failingMounter struct {
	*mount.FakeMounter
	err error
}

func (m *failingMounter) Mount(string, string, string, []string) error { return m.err }

// TestKernelRefusedOptions: the kernel's EINVAL is the user's options, and
// says so; other failures stay internal.
func TestKernelRefusedOptions(t *testing.T) {
	t.Parallel()
	refused := errors.New("mount failed: exit status 32\nOutput: mount error 22 = Invalid argument\n")
	k := &Kernel{Mounter: &failingMounter{FakeMounter: mount.NewFakeMounter(nil), err: refused}, KeyDir: t.TempDir()}
	err := k.Mount(context.Background(), testRequest("no_such_option"), "/stage")
	if !errors.Is(err, contract.ErrInvalid) || !strings.Contains(err.Error(), `"no_such_option"`) || strings.Contains(err.Error(), testKey) {
		t.Errorf("refused options: %v", err)
	}
	timedOut := errors.New("mount failed: exit status 32\nOutput: mount error 110 = Connection timed out\n")
	k.Mounter = &failingMounter{FakeMounter: mount.NewFakeMounter(nil), err: timedOut}
	if err := k.Mount(context.Background(), testRequest(), "/stage"); errors.Is(err, contract.ErrInvalid) || !errors.Is(err, timedOut) {
		t.Errorf("timeout: %v", err)
	}
}

// TestFuseSELinuxContext: libfuse splits -o at every comma, so the comma
// inside the kubelet's quoted context goes escaped (seen with strace: the
// kernel then gets context="…:s0:c1,c2" whole, from libfuse 2.9 and 3.17).
func TestFuseSELinuxContext(t *testing.T) {
	t.Parallel()
	ctx := `context="system_u:object_r:container_file_t:s0:c1,c2"`
	args := (&Fuse{}).Args(testRequest("noatime", ctx), "/stage", "/keyring")
	want := `noatime,context="system_u:object_r:container_file_t:s0:c1\,c2"`
	if got := args[len(args)-1]; got != want {
		t.Errorf("-o %s, want %s", got, want)
	}
}

func TestRefusedSELinux(t *testing.T) {
	t.Parallel()
	ctx := `context="system_u:object_r:container_file_t:s0:c1,c2"`
	einval := "ceph-fuse[1]: starting ceph client\nfuse: mount failed: Invalid argument\nceph-fuse[1]: fuse failed to start\n"
	if err := RefusedSELinux([]string{"noatime", ctx}, einval); !errors.Is(err, contract.ErrInvalid) || !strings.Contains(err.Error(), ctx) {
		t.Errorf("EINVAL with a context: %v, want InvalidArgument naming it", err)
	}
	if err := RefusedSELinux([]string{"noatime"}, einval); err != nil {
		t.Errorf("EINVAL without a context: %v, want nil (not about SELinux)", err)
	}
	if err := RefusedSELinux([]string{ctx}, "ceph-fuse[1]: ceph mount failed with (110) Connection timed out"); err != nil {
		t.Errorf("another failure: %v, want nil", err)
	}
	f := &Fuse{KeyDir: t.TempDir(), Run: func(context.Context, string, ...string) ([]byte, error) {
		return []byte(einval), errors.New("exit status 5")
	}}
	if err := f.Mount(context.Background(), testRequest(ctx), "/stage"); !errors.Is(err, contract.ErrInvalid) {
		t.Errorf("Mount: %v, want InvalidArgument", err)
	}
}

func TestSELinuxEnabled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	with, without := filepath.Join(dir, "with"), filepath.Join(dir, "without")
	_ = os.WriteFile(with, []byte("nodev\tsysfs\nnodev\tselinuxfs\nnodev\tfuse\n"), 0o644)
	_ = os.WriteFile(without, []byte("nodev\tsysfs\nnodev\tfuse\n\text4\n"), 0o644)
	if !SELinuxEnabled(with) || SELinuxEnabled(without) || SELinuxEnabled(filepath.Join(dir, "none")) {
		t.Error("selinuxfs in /proc/filesystems not told apart")
	}
}
