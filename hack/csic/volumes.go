package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"text/tabwriter"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/hack/internal/csiargs"
)

// capability is a filesystem volume shared by every node, as a
// ReadWriteMany (or ReadOnlyMany) claim asks for it.
func capability(readOnly bool) *csi.VolumeCapability {
	mode := csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
	if readOnly {
		mode = csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
	}
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

func volumeCommands() []namedCommand {
	var (
		params            = csiargs.KeyValues{}
		fromSnap, fromVol string
		pageSize          int
	)
	return []namedCommand{
		{"create", &command{
			args: "NAME [SIZE]", about: "create a volume of SIZE (default 1Gi) and remember it as NAME",
			flags: func(fs *flag.FlagSet) {
				fs.Var(params, "param", "a StorageClass parameter, key=value (repeatable; wins over -parameters)")
				fs.StringVar(&fromSnap, "from-snapshot", "", "restore this snapshot (a name snapshot create was given, or an ID)")
				fs.StringVar(&fromVol, "from-volume", "", "clone this volume")
			},
			nargs: [2]int{1, 2},
			run: func(ctx context.Context, c *client, args []string) error {
				return c.create(ctx, args, params, fromSnap, fromVol)
			},
		}},
		{"delete", &command{
			args: "VOLUME", about: "delete a volume (and forget its name)", nargs: [2]int{1, 1},
			run: func(ctx context.Context, c *client, args []string) error { return c.delete(ctx, args[0]) },
		}},
		{"expand", &command{
			args: "VOLUME SIZE", about: "grow a volume's quota to SIZE", nargs: [2]int{2, 2},
			run: func(ctx context.Context, c *client, args []string) error { return c.expand(ctx, args[0], args[1]) },
		}},
		{"list", &command{
			args: "", about: "the driver's volumes (ListVolumes), page after page",
			flags: func(fs *flag.FlagSet) {
				fs.IntVar(&pageSize, "page-size", 0, "max_entries of each call (0: the driver's choice)")
			},
			run: func(ctx context.Context, c *client, _ []string) error { return c.list(ctx, pageSize) },
		}},
		{"stats", &command{
			args: "VOLUME PATH", about: "a mounted volume's usage and condition (NodeGetVolumeStats)", nargs: [2]int{2, 2},
			run: func(ctx context.Context, c *client, args []string) error { return c.stats(ctx, args[0], args[1]) },
		}},
	}
}

func (c *client) create(ctx context.Context, args []string, params map[string]string, fromSnap, fromVol string) error {
	name := args[0]
	if !validName.MatchString(name) {
		return fmt.Errorf("volume name %q: want letters, digits, '.', '_' or '-', at most 63", name)
	}
	size := int64(1 << 30)
	if len(args) == 2 {
		var err error
		if size, err = sizeArg(args[1]); err != nil {
			return err
		}
	}
	p := maps.Clone(params)
	for k, v := range c.params {
		if _, set := p[k]; !set {
			p[k] = v
		}
	}
	req := &csi.CreateVolumeRequest{
		Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{capability(false)},
		Parameters:         p, Secrets: c.secrets.For("CreateVolumeSecret"),
	}
	switch {
	case fromSnap != "" && fromVol != "":
		return fmt.Errorf("-from-snapshot and -from-volume: one source at most")
	case fromSnap != "":
		src, err := c.snapshot(fromSnap)
		if err != nil {
			return err
		}
		req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: src.SnapshotID}}}
	case fromVol != "":
		src, err := c.volume(fromVol)
		if err != nil {
			return err
		}
		req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
			Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src.VolumeID}}}
	}
	var resp *csi.CreateVolumeResponse
	err := c.call(ctx, "CreateVolume "+name, func(ctx context.Context) (err error) {
		resp, err = c.ctl.CreateVolume(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	v := resp.GetVolume()
	r := record{Name: name, VolumeID: v.GetVolumeId(), CapacityBytes: v.GetCapacityBytes(), VolumeContext: v.GetVolumeContext()}
	if err := c.save(volumes, name, r); err != nil {
		return fmt.Errorf("volume %s created, but not remembered as %s: %w", r.VolumeID, name, err)
	}
	if c.json {
		c.printJSON(resp)
		return nil
	}
	c.printf("volume    %s\nid        %s\ncapacity  %s\n", name, r.VolumeID, capacity(r.CapacityBytes))
	if path := v.GetVolumeContext()["subvolumePath"]; path != "" {
		c.printf("path      %s (in filesystem %s)\n", path, v.GetVolumeContext()["fsName"])
	}
	return nil
}

func (c *client) delete(ctx context.Context, arg string) error {
	r, err := c.volume(arg)
	if err != nil {
		return err
	}
	req := &csi.DeleteVolumeRequest{VolumeId: r.VolumeID, Secrets: c.secrets.For("DeleteVolumeSecret")}
	var resp *csi.DeleteVolumeResponse
	if err := c.call(ctx, "DeleteVolume "+r.label(), func(ctx context.Context) (err error) {
		resp, err = c.ctl.DeleteVolume(ctx, req)
		return err
	}); err != nil {
		return err
	}
	if err := c.forget(volumes, r.Name); err != nil {
		return fmt.Errorf("volume %s deleted, but its record stays: %w", r.label(), err)
	}
	if c.json {
		c.printJSON(resp)
	}
	if r.Name == "" {
		// A mistyped name reaches the driver as an ID it does not know,
		// and deleting an unknown volume succeeds.
		c.printf("deleted %s (no volume was created here under that name: sent as a volume ID)\n", r.VolumeID)
		return nil
	}
	c.printf("deleted %s\n", r.label())
	return nil
}

func (c *client) expand(ctx context.Context, arg, sizeText string) error {
	size, err := sizeArg(sizeText)
	if err != nil {
		return err
	}
	r, err := c.volume(arg)
	if err != nil {
		return err
	}
	req := &csi.ControllerExpandVolumeRequest{
		VolumeId: r.VolumeID, CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapability: capability(false), Secrets: c.secrets.For("ControllerExpandVolumeSecret"),
	}
	var resp *csi.ControllerExpandVolumeResponse
	if err := c.call(ctx, "ControllerExpandVolume "+r.label(), func(ctx context.Context) (err error) {
		resp, err = c.ctl.ControllerExpandVolume(ctx, req)
		return err
	}); err != nil {
		return err
	}
	if r.Name != "" {
		r.CapacityBytes = resp.GetCapacityBytes()
		if err := c.save(volumes, r.Name, r); err != nil {
			return err
		}
	}
	if c.json {
		c.printJSON(resp)
		return nil
	}
	c.printf("volume    %s\ncapacity  %s\n", r.label(), capacity(resp.GetCapacityBytes()))
	if resp.GetNodeExpansionRequired() {
		c.printf("the driver asks for node expansion too (NodeExpandVolume on each mount)\n")
	}
	return nil
}

func (c *client) list(ctx context.Context, pageSize int) error {
	names := map[string]string{}
	if recs, err := c.records(); err == nil {
		for _, r := range recs {
			names[r.VolumeID] = r.Name
		}
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	if !c.json {
		fmt.Fprintln(tw, "VOLUME ID\tCAPACITY\tNAME")
	}
	n := 0
	err := eachPage(ctx, c, "ListVolumes", func(ctx context.Context, token string) (*csi.ListVolumesResponse, error) {
		return c.ctl.ListVolumes(ctx, &csi.ListVolumesRequest{MaxEntries: int32(pageSize), StartingToken: token})
	}, func(resp *csi.ListVolumesResponse) {
		for _, e := range resp.GetEntries() {
			v := e.GetVolume()
			n++
			fmt.Fprintf(tw, "%s\t%s\t%s\n", v.GetVolumeId(), capacity(v.GetCapacityBytes()), orDash(names[v.GetVolumeId()]))
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
	c.printf("%d volumes\n", n)
	return nil
}

func (c *client) stats(ctx context.Context, arg, path string) error {
	r, err := c.volume(arg)
	if err != nil {
		return err
	}
	req := &csi.NodeGetVolumeStatsRequest{VolumeId: r.VolumeID, VolumePath: path}
	var resp *csi.NodeGetVolumeStatsResponse
	if err := c.call(ctx, "NodeGetVolumeStats "+r.label()+" at "+path, func(ctx context.Context) (err error) {
		resp, err = c.node.NodeGetVolumeStats(ctx, req)
		return err
	}); err != nil {
		return err
	}
	if c.json {
		c.printJSON(resp)
		return nil
	}
	c.printf("volume     %s at %s\n", r.label(), path)
	usage := slices.Clone(resp.GetUsage())
	slices.SortFunc(usage, func(a, b *csi.VolumeUsage) int { return int(a.GetUnit()) - int(b.GetUnit()) })
	for _, u := range usage {
		switch u.GetUnit() {
		case csi.VolumeUsage_BYTES:
			c.printf("bytes      %s used, %s available, %s in all\n",
				csiargs.FormatSize(u.GetUsed()), csiargs.FormatSize(u.GetAvailable()), csiargs.FormatSize(u.GetTotal()))
		case csi.VolumeUsage_INODES:
			if u.GetTotal() == 0 {
				// CephFS sets no limit on files (no total, no available).
				c.printf("inodes     %d used, no limit\n", u.GetUsed())
				break
			}
			c.printf("inodes     %d used, %d available, %d in all\n", u.GetUsed(), u.GetAvailable(), u.GetTotal())
		}
	}
	health, err := c.node.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: req.GetVolumeId(), VolumePublishPath: path})
	switch {
	case err != nil:
		c.printf("health     unknown: %v\n", err)
	case len(health.GetVolumeHealth().GetHealthStatuses()) == 0:
		c.printf("health     no adverse condition known\n")
	}
	for _, e := range health.GetVolumeHealth().GetHealthStatuses() {
		c.printf("health     %s %s: %s\n", e.GetStatus(), e.GetReason(), e.GetMessage())
	}
	return nil
}

// capacity prints a volume's capacity; 0 is a volume without a quota.
func capacity(n int64) string {
	if n == 0 {
		return "unlimited"
	}
	return csiargs.FormatSize(n)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
