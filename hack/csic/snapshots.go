package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"text/tabwriter"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/hack/internal/csiargs"
)

func snapshotCommands() []namedCommand {
	var (
		params   = csiargs.KeyValues{}
		source   string
		pageSize int
	)
	return []namedCommand{
		{"snapshot-create", &command{
			args: "NAME VOLUME", about: "snapshot a volume and remember it as NAME",
			flags: func(fs *flag.FlagSet) {
				fs.Var(params, "param", "a VolumeSnapshotClass parameter, key=value (repeatable)")
			},
			nargs: [2]int{2, 2},
			run: func(ctx context.Context, c *client, args []string) error {
				return c.snapshotCreate(ctx, args[0], args[1], params)
			},
		}},
		{"snapshot-delete", &command{
			args: "SNAPSHOT", about: "delete a snapshot (its name or ID)", nargs: [2]int{1, 1},
			run: func(ctx context.Context, c *client, args []string) error { return c.snapshotDelete(ctx, args[0]) },
		}},
		{"snapshot-list", &command{
			args: "", about: "the driver's snapshots (ListSnapshots), page after page",
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&source, "volume", "", "only the snapshots of this volume")
				fs.IntVar(&pageSize, "page-size", 0, "max_entries of each call (0: the driver's choice)")
			},
			run: func(ctx context.Context, c *client, _ []string) error { return c.snapshotList(ctx, source, pageSize) },
		}},
	}
}

func (c *client) snapshotCreate(ctx context.Context, name, volume string, params map[string]string) error {
	r, err := c.volume(volume)
	if err != nil {
		return err
	}
	req := &csi.CreateSnapshotRequest{
		Name: name, SourceVolumeId: r.VolumeID, Parameters: maps.Clone(params),
		Secrets: c.secrets.For("CreateSnapshotSecret"),
	}
	// The StorageClass's clusterID names the cluster when the class has
	// none (a VolumeSnapshotClass carries it in Kubernetes).
	if req.Parameters["clusterID"] == "" && c.params["clusterID"] != "" {
		req.Parameters["clusterID"] = c.params["clusterID"]
	}
	var resp *csi.CreateSnapshotResponse
	if err := c.call(ctx, "CreateSnapshot "+name+" of "+r.label(), func(ctx context.Context) (err error) {
		resp, err = c.ctl.CreateSnapshot(ctx, req)
		return err
	}); err != nil {
		return err
	}
	s := resp.GetSnapshot()
	rec := snapshotRecord{Name: name, SnapshotID: s.GetSnapshotId(), SourceVolumeID: r.VolumeID}
	if err := c.save(snapshots, name, rec); err != nil {
		return fmt.Errorf("snapshot %s taken, but not remembered as %s: %w", rec.SnapshotID, name, err)
	}
	if c.json {
		c.printJSON(resp)
		return nil
	}
	c.printf("snapshot  %s\nid        %s\nsource    %s\nsize      %s\nready     %t\n",
		name, s.GetSnapshotId(), r.label(), csiargs.FormatSize(s.GetSizeBytes()), s.GetReadyToUse())
	return nil
}

func (c *client) snapshotDelete(ctx context.Context, arg string) error {
	r, err := c.snapshot(arg)
	if err != nil {
		return err
	}
	req := &csi.DeleteSnapshotRequest{SnapshotId: r.SnapshotID, Secrets: c.secrets.For("DeleteSnapshotSecret")}
	if err := c.call(ctx, "DeleteSnapshot "+r.label(), func(ctx context.Context) error {
		_, err := c.ctl.DeleteSnapshot(ctx, req)
		return err
	}); err != nil {
		return err
	}
	if err := c.forget(snapshots, r.Name); err != nil {
		return fmt.Errorf("snapshot %s deleted, but its record stays: %w", r.label(), err)
	}
	c.printf("deleted snapshot %s\n", r.label())
	return nil
}

func (c *client) snapshotList(ctx context.Context, volume string, pageSize int) error {
	var sourceID string
	if volume != "" {
		r, err := c.volume(volume)
		if err != nil {
			return err
		}
		sourceID = r.VolumeID
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	if !c.json {
		fmt.Fprintln(tw, "SNAPSHOT ID\tSOURCE VOLUME ID\tSIZE\tREADY")
	}
	n := 0
	err := eachPage(ctx, c, "ListSnapshots", func(ctx context.Context, token string) (*csi.ListSnapshotsResponse, error) {
		return c.ctl.ListSnapshots(ctx, &csi.ListSnapshotsRequest{
			SourceVolumeId: sourceID, MaxEntries: int32(pageSize), StartingToken: token,
			Secrets: c.secrets.For("ListSnapshotsSecret"),
		})
	}, func(resp *csi.ListSnapshotsResponse) {
		for _, e := range resp.GetEntries() {
			s := e.GetSnapshot()
			n++
			fmt.Fprintf(tw, "%s\t%s\t%s\t%t\n", s.GetSnapshotId(), s.GetSourceVolumeId(), csiargs.FormatSize(s.GetSizeBytes()), s.GetReadyToUse())
		}
	})
	if err != nil {
		return err
	}
	if c.json {
		return nil
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	c.printf("%d snapshots\n", n)
	return nil
}
