package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cephfs-csi/cephfs-csi/hack/internal/csiargs"
)

// Options are the command line.
type Options struct {
	Endpoint      string
	Params        map[string]string // StorageClass parameters
	SnapParams    map[string]string // VolumeSnapshotClass parameters
	Secrets       csiargs.Secrets
	ClusterConfig string // ceph-csi's config.json: for the floor; empty = no floor
	ClusterID     string
	FSName        string
	Group         string
	WorkDir       string // staging and target paths, raw mounts, key files
	StagingDir    string
	TargetDir     string
	DriverPID     int
	Count         int
	Concurrency   []int
	Clones        int
	DataMiB       int
	Scale         int
	Staged        int
	Capacity      int64
	Timeout       time.Duration
	Prefix        string
}

func parseOptions(args []string) (*Options, error) {
	o := &Options{Params: map[string]string{}, SnapParams: map[string]string{}, Secrets: csiargs.NewSecrets()}
	fs := flag.NewFlagSet("csibench", flag.ContinueOnError)
	fs.StringVar(&o.Endpoint, "endpoint", "", "the driver's CSI endpoint: unix:///path/to/csi.sock (required)")
	paramFile := fs.String("parameters", "", "YAML file of StorageClass parameters (key: value)")
	fs.Var(csiargs.KeyValues(o.Params), "param", "a StorageClass parameter, key=value (repeatable; wins over --parameters)")
	fs.Var(csiargs.KeyValues(o.SnapParams), "snapshot-param", "a VolumeSnapshotClass parameter, key=value (repeatable)")
	secretFile := fs.String("secrets", "", "YAML file of CSI secrets: csi-sanity's format (CreateVolumeSecret: {key: value}, ...) or one flat map for every call")
	fs.Var(o.Secrets.Flag(), "secret", "a secret sent with every call, key=value (repeatable; wins over --secrets; visible to ps: keys belong in --secrets)")
	fs.StringVar(&o.ClusterConfig, "cluster-config", "", "cluster config (ceph-csi's config.json) for the floor measured straight through go-ceph and ceph-fuse; empty = no floor")
	fs.StringVar(&o.ClusterID, "cluster-id", "", "the floor's cluster in --cluster-config (default: the clusterID parameter)")
	fs.StringVar(&o.FSName, "fs", "", "the floor's filesystem (default: the fsName parameter)")
	fs.StringVar(&o.Group, "group", "", "the floor's subvolume group (default: the subvolumeGroup parameter, else the cluster config's)")
	fs.StringVar(&o.WorkDir, "work-dir", "", "directory for raw mounts and key files (default: a new one under $TMPDIR, removed at the end)")
	fs.StringVar(&o.StagingDir, "staging-dir", "", "where the run makes its staging paths (default: the work directory)")
	fs.StringVar(&o.TargetDir, "target-dir", "", "where the run makes its publish targets (default: the work directory)")
	fs.IntVar(&o.DriverPID, "driver-pid", 0, "the driver's process ID, for its resident set size (0 = not measured)")
	fs.IntVar(&o.Count, "count", 40, "operations per measurement (at least the concurrency)")
	conc := fs.String("concurrency", "1,8,32", "concurrencies of the CreateVolume and DeleteVolume measurements")
	fs.IntVar(&o.Clones, "clones", 10, "CreateVolume calls from a snapshot")
	fs.IntVar(&o.DataMiB, "data-mib", 256, "size of the sequential write and read, MiB (0 = no data path)")
	fs.IntVar(&o.Scale, "scale", 500, "volumes that exist while CreateVolume is measured again (0 = no scale step)")
	fs.IntVar(&o.Staged, "staged", 4, "volumes staged at once for ceph-fuse's resident set size")
	capacity := fs.String("capacity", "1Gi", "capacity of each volume (Mi, Gi suffixes or bytes)")
	fs.DurationVar(&o.Timeout, "timeout", 2*time.Minute, "deadline of each call")
	fs.StringVar(&o.Prefix, "prefix", "csibench", "prefix of every name the run creates")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.Endpoint == "" {
		return nil, errors.New("--endpoint is required")
	}
	var err error
	if o.Concurrency, err = parseInts(*conc); err != nil {
		return nil, fmt.Errorf("--concurrency: %w", err)
	}
	if o.Capacity, err = csiargs.ParseSize(*capacity); err != nil {
		return nil, fmt.Errorf("--capacity: %w", err)
	}
	if o.Count < 1 || o.Staged < 1 || o.Clones < 0 || o.DataMiB < 0 || o.Scale < 0 {
		return nil, errors.New("--count and --staged must be at least 1; --clones, --data-mib and --scale at least 0")
	}
	if o.DataMiB > 0 && o.Capacity < 2*int64(o.DataMiB)<<20 {
		return nil, fmt.Errorf("--capacity %d bytes cannot hold the data path's two files of %d MiB", o.Capacity, o.DataMiB)
	}
	if *paramFile != "" {
		if err := csiargs.MergeFlatFile(*paramFile, o.Params); err != nil {
			return nil, fmt.Errorf("--parameters: %w", err)
		}
	}
	if *secretFile != "" {
		if err := o.Secrets.Load(*secretFile); err != nil {
			return nil, fmt.Errorf("--secrets: %w", err)
		}
	}
	if o.ClusterID == "" {
		o.ClusterID = o.Params["clusterID"]
	}
	if o.FSName == "" {
		o.FSName = o.Params["fsName"]
	}
	if o.Group == "" {
		o.Group = o.Params["subvolumeGroup"]
	}
	return o, nil
}

// parseInts reads "1,8,32".
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want positive integers separated by commas", s)
		}
		out = append(out, n)
	}
	return out, nil
}
