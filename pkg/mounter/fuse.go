package mounter

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/mountopts"
)

// Runner runs a command and returns its combined output; tests replace it.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// ExecRunner runs commands for real.
func ExecRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// Fuse mounts with ceph-fuse. It needs nothing from /etc/ceph: monitors and
// the keyring are passed explicitly, and the config file is /dev/null.
type Fuse struct {
	Run    Runner
	KeyDir string
	// Holder, when set, runs ceph-fuse in the mount holder instead of
	// here, so that the mount outlives this process's container (see
	// docs/design.md, "the mount holder").
	Holder Holder
}

// Holder mounts a request with ceph-fuse in a process that outlives the
// node plugin.
type Holder interface {
	Mount(ctx context.Context, req Request, target string) error
	// Held lists the mounts the holder runs with what they were made
	// with, so that a node plugin started after them can mount one
	// again when its ceph-fuse dies.
	Held(ctx context.Context) ([]Held, error)
}

// Held is one mount a Holder runs.
type Held struct {
	Target  string
	Request Request
}

// Held lists the mounts the holder runs; none without a holder: nothing
// else keeps what a mount was made with.
func (f *Fuse) Held(ctx context.Context) ([]Held, error) {
	if f.Holder == nil {
		return nil, nil
	}
	return f.Holder.Held(ctx)
}

// Name is "fuse".
func (f *Fuse) Name() string { return contract.MounterFuse }

// Args is the ceph-fuse command line for req (without the program name).
func (f *Fuse) Args(req Request, target, keyring string) []string {
	args := []string{
		target,
		"-c", "/dev/null",
		"-m", strings.Join(req.Monitors, ","),
		"--id", req.Creds.ID,
		"--keyring", keyring,
		"--client_fs", req.FSName,
		"-r", req.Path,
	}
	if len(req.Options) > 0 {
		args = append(args, "-o", fuseOptions(req.Options))
	}
	return args
}

// fuseOptions joins validated options for ceph-fuse's -o. libfuse splits
// -o at every comma, quotes or not, and takes "\," for a comma inside an
// option: the kubelet's context="…:s0:c1,c2" would otherwise reach the
// kernel cut after c1 (libfuse 2.9, Pacific's ceph-fuse) or be refused
// (libfuse 3.17: unknown option c2"). Escaped, the kernel gets it whole.
// Validated options hold no backslash, so the escape is unambiguous.
func fuseOptions(opts []string) string {
	escaped := make([]string, len(opts))
	for i, o := range opts {
		escaped[i] = strings.ReplaceAll(o, ",", `\,`)
	}
	return strings.Join(escaped, ",")
}

// RefusedSELinux tells, from ceph-fuse's output, that the kernel refused a
// FUSE mount whose options set an SELinux label: it answers EINVAL for a
// context its policy does not know, and for any context when it has no
// SELinux at all ("fuse: Unknown parameter 'context'" in its log). The
// error names the options; the node's kernel log says more.
func RefusedSELinux(opts []string, output string) error {
	if !strings.Contains(output, "fuse: mount failed: Invalid argument") {
		return nil
	}
	var labels []string
	for _, o := range opts {
		if mountopts.IsSELinux(o) {
			labels = append(labels, o)
		}
	}
	if len(labels) == 0 {
		return nil
	}
	return contract.Invalid("the node's kernel refused the FUSE mount with the SELinux option %s (EINVAL): its SELinux policy does not accept that context, or it has no SELinux (its kernel log says which)",
		strings.Join(labels, ","))
}

// Mount runs ceph-fuse, which returns once the mount is up; the keyring is
// removed right after.
func (f *Fuse) Mount(ctx context.Context, req Request, target string) error {
	if f.Holder != nil {
		return f.Holder.Mount(ctx, req, target)
	}
	keyring, remove, err := WriteKeyring(f.KeyDir, req.Creds)
	if err != nil {
		return err
	}
	defer remove()
	args := f.Args(req, target, keyring)
	klog.FromContext(ctx).V(4).Info("Running ceph-fuse", "args", args)
	out, err := f.Run(ctx, "ceph-fuse", args...)
	if err != nil {
		if refused := RefusedSELinux(req.Options, string(out)); refused != nil {
			return refused
		}
		return fmt.Errorf("ceph-fuse %s on %s: %w: %s", req.Path, target, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// WriteKeyring writes creds as a ceph keyring into a new 0600 file in dir
// and returns its path and a function that removes it.
func WriteKeyring(dir string, creds contract.Credentials) (string, func(), error) {
	return writeKeyFile(dir, keyringPattern, fmt.Sprintf("[client.%s]\n\tkey = %s\n", creds.ID, creds.Key))
}
