package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/hack/internal/csiargs"
)

func nodeCommands() []namedCommand {
	var readOnly bool
	volumeContext := csiargs.KeyValues{}
	ctxFlag := func(fs *flag.FlagSet) {
		fs.Var(volumeContext, "context", "a volume context entry, key=value, over the one remembered (repeatable): "+
			"for a volume created elsewhere, or a static one")
	}
	roFlag := func(fs *flag.FlagSet) {
		ctxFlag(fs)
		fs.BoolVar(&readOnly, "readonly", false, "publish read-only")
	}
	// resolve finds the volume and lays -context over its context.
	resolve := func(c *client, arg string) (record, error) {
		r, err := c.volume(arg)
		if err != nil || len(volumeContext) == 0 {
			return r, err
		}
		r.VolumeContext = maps.Clone(r.VolumeContext)
		if r.VolumeContext == nil {
			r.VolumeContext = map[string]string{}
		}
		maps.Copy(r.VolumeContext, volumeContext)
		return r, nil
	}
	return []namedCommand{
		{"mount", &command{
			args: "VOLUME PATH", about: "stage the volume (under the state directory) and publish it at PATH, as the kubelet does",
			flags: roFlag, nargs: [2]int{2, 2},
			run: func(ctx context.Context, c *client, args []string) error {
				r, err := resolve(c, args[0])
				if err != nil {
					return err
				}
				return c.mount(ctx, r, args[1], readOnly)
			},
		}},
		{"unmount", &command{
			args: "VOLUME PATH", about: "unpublish the volume from PATH and unstage it: mount undone",
			nargs: [2]int{2, 2},
			run:   func(ctx context.Context, c *client, args []string) error { return c.unmount(ctx, args[0], args[1]) },
		}},
		{"stage", &command{
			args: "VOLUME STAGING_PATH", about: "NodeStageVolume at STAGING_PATH (made first, as the kubelet does)",
			flags: ctxFlag, nargs: [2]int{2, 2},
			run: func(ctx context.Context, c *client, args []string) error {
				r, err := resolve(c, args[0])
				if err != nil {
					return err
				}
				if err := c.stage(ctx, r, args[1]); err != nil {
					return err
				}
				c.printf("staged %s at %s\n", r.label(), args[1])
				return nil
			},
		}},
		{"unstage", &command{
			args: "VOLUME STAGING_PATH", about: "NodeUnstageVolume", nargs: [2]int{2, 2},
			run: func(ctx context.Context, c *client, args []string) error {
				r, err := c.volume(args[0])
				if err != nil {
					return err
				}
				if err := c.unstage(ctx, r, args[1]); err != nil {
					return err
				}
				c.printf("unstaged %s from %s\n", r.label(), args[1])
				return nil
			},
		}},
		{"publish", &command{
			args: "VOLUME STAGING_PATH TARGET", about: "NodePublishVolume of a staged volume at TARGET",
			flags: roFlag, nargs: [2]int{3, 3},
			run: func(ctx context.Context, c *client, args []string) error {
				r, err := resolve(c, args[0])
				if err != nil {
					return err
				}
				if err := c.publish(ctx, r, args[1], args[2], readOnly); err != nil {
					return err
				}
				c.printf("published %s at %s\n", r.label(), args[2])
				return nil
			},
		}},
		{"unpublish", &command{
			args: "VOLUME TARGET", about: "NodeUnpublishVolume", nargs: [2]int{2, 2},
			run: func(ctx context.Context, c *client, args []string) error {
				r, err := c.volume(args[0])
				if err != nil {
					return err
				}
				if err := c.unpublish(ctx, r, args[1]); err != nil {
					return err
				}
				c.printf("unpublished %s from %s\n", r.label(), args[1])
				return nil
			},
		}},
	}
}

// absPath makes a path argument absolute: the driver requires it.
func absPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("path %q: %w", p, err)
	}
	return abs, nil
}

func (c *client) stage(ctx context.Context, r record, staging string) error {
	staging, err := absPath(staging)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(staging, 0o750); err != nil {
		return err
	}
	req := &csi.NodeStageVolumeRequest{
		VolumeId: r.VolumeID, StagingTargetPath: staging, VolumeCapability: capability(false),
		VolumeContext: r.VolumeContext, Secrets: c.secrets.For("NodeStageVolumeSecret"),
	}
	return c.call(ctx, "NodeStageVolume "+r.label()+" at "+staging, func(ctx context.Context) error {
		_, err := c.node.NodeStageVolume(ctx, req)
		return err
	})
}

func (c *client) unstage(ctx context.Context, r record, staging string) error {
	staging, err := absPath(staging)
	if err != nil {
		return err
	}
	req := &csi.NodeUnstageVolumeRequest{VolumeId: r.VolumeID, StagingTargetPath: staging}
	return c.call(ctx, "NodeUnstageVolume "+r.label()+" at "+staging, func(ctx context.Context) error {
		_, err := c.node.NodeUnstageVolume(ctx, req)
		return err
	})
}

// publish publishes at target, whose parent it makes as the kubelet does
// (the driver makes target).
func (c *client) publish(ctx context.Context, r record, staging, target string, readOnly bool) error {
	staging, err := absPath(staging)
	if err != nil {
		return err
	}
	if target, err = absPath(target); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return err
	}
	req := &csi.NodePublishVolumeRequest{
		VolumeId: r.VolumeID, StagingTargetPath: staging, TargetPath: target, Readonly: readOnly,
		VolumeCapability: capability(readOnly), VolumeContext: r.VolumeContext,
		Secrets: c.secrets.For("NodePublishVolumeSecret"),
	}
	return c.call(ctx, "NodePublishVolume "+r.label()+" at "+target, func(ctx context.Context) error {
		_, err := c.node.NodePublishVolume(ctx, req)
		return err
	})
}

func (c *client) unpublish(ctx context.Context, r record, target string) error {
	target, err := absPath(target)
	if err != nil {
		return err
	}
	req := &csi.NodeUnpublishVolumeRequest{VolumeId: r.VolumeID, TargetPath: target}
	return c.call(ctx, "NodeUnpublishVolume "+r.label()+" at "+target, func(ctx context.Context) error {
		_, err := c.node.NodeUnpublishVolume(ctx, req)
		return err
	})
}

// mount stages and publishes; when publishing fails it unstages again, so
// that nothing is left half done.
func (c *client) mount(ctx context.Context, r record, target string, readOnly bool) error {
	staging := c.stagingPath(r.VolumeID)
	if err := c.stage(ctx, r, staging); err != nil {
		return errors.Join(err, removeDir(staging))
	}
	if err := c.publish(ctx, r, staging, target, readOnly); err != nil {
		if uerr := c.unstage(ctx, r, staging); uerr != nil {
			return errors.Join(err, fmt.Errorf("and the staging at %s stays: %w", staging, uerr))
		}
		return errors.Join(err, removeDir(staging))
	}
	c.printf("mounted %s at %s\n", r.label(), target)
	return nil
}

// unmount undoes mount: unpublish, unstage, and the directories made.
func (c *client) unmount(ctx context.Context, arg, target string) error {
	r, err := c.volume(arg)
	if err != nil {
		return err
	}
	if err := c.unpublish(ctx, r, target); err != nil {
		return err
	}
	if err := removeDir(target); err != nil {
		return err
	}
	staging := c.stagingPath(r.VolumeID)
	if err := c.unstage(ctx, r, staging); err != nil {
		return err
	}
	if err := removeDir(staging); err != nil {
		return err
	}
	c.printf("unmounted %s from %s\n", r.label(), target)
	return nil
}

// removeDir removes an empty directory; a missing one is fine.
func removeDir(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
