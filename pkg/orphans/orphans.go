// Package orphans is the `cephfs-csi orphans` subcommand: it reads the live
// handles the operator passes, a credential from files, and prints the
// controller's orphan report (pkg/controller, orphans.go) as a table or
// JSON; with --delete it removes what it printed.
package orphans

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/controller"
)

// Exit codes, as diff(1) has them: whether something was found, or trouble.
const (
	ExitNone    = 0 // no orphan
	ExitFound   = 1 // orphans listed (with --delete: all removed)
	ExitTrouble = 2 // bad input, a cluster that did not answer, a removal that failed
)

type options struct {
	clusterConfig    string
	handles          string
	snapshotHandles  string
	allowEmpty       bool
	secretDir        string
	keyring          string
	user             string
	clusters         list
	filesystems      list
	groups           list
	minAge           time.Duration
	includeUnclaimed bool
	remove           bool
	json             bool
	cephTimeout      time.Duration
	timeout          time.Duration
}

// list is a flag that may be repeated or comma-separated.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }
func (l *list) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// Main runs the subcommand with its arguments (after "orphans") and
// returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("cephfs-csi orphans", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.clusterConfig, "cluster-config", "/etc/ceph-csi-config/config.json", "cluster config (ceph-csi's config.json format): the clusters to look at")
	fs.StringVar(&o.handles, "handles", "", "file of live volume handles, one per line (PersistentVolumes' spec.csi.volumeHandle); - = standard input")
	fs.StringVar(&o.snapshotHandles, "snapshot-handles", "", "file of live snapshot handles, one per line (VolumeSnapshotContents' status.snapshotHandle); - = standard input")
	fs.BoolVar(&o.allowEmpty, "allow-empty", false, "accept an empty list of volume handles (every volume is then an orphan)")
	fs.StringVar(&o.secretDir, "secret-dir", "", "directory holding the credential as files (adminID/adminKey or userID/userKey; a subdirectory per cluster ID overrides), as --controller-secret-dir")
	fs.StringVar(&o.keyring, "keyring", "", "Ceph keyring file holding the key of --id (e.g. /etc/ceph/ceph.client.admin.keyring)")
	fs.StringVar(&o.user, "id", "admin", "CephX user of --keyring, without client.")
	fs.Var(&o.clusters, "cluster-id", "look at this cluster of the config only (repeat or comma-separate; default all)")
	fs.Var(&o.filesystems, "fs", "look at this filesystem only (repeat or comma-separate; default every filesystem)")
	fs.Var(&o.groups, "group", "look at this subvolume group only (repeat or comma-separate; default the config's group and every group the driver's records name)")
	fs.DurationVar(&o.minAge, "min-age", time.Hour, "anything younger is reported in progress, never removed: it may belong to a create still running")
	fs.BoolVar(&o.includeUnclaimed, "include-unclaimed", false, "report subvolumes and snapshots that neither the driver's records nor ceph-csi's journal name as orphans (default: unknown, left alone)")
	fs.BoolVar(&o.remove, "delete", false, "remove the orphans listed, each checked again just before")
	fs.BoolVar(&o.json, "json", false, "print JSON instead of a table")
	fs.DurationVar(&o.cephTimeout, "ceph-timeout", 10*time.Second, "bound on connecting to a cluster and on each RADOS operation")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "bound on the whole run")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return ExitNone
	} else if err != nil {
		return ExitTrouble
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cephfs-csi orphans: unexpected argument %q\n", fs.Arg(0))
		return ExitTrouble
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	code, err := run(ctx, o, stdin, stdout, stderr, nil)
	if err != nil {
		fmt.Fprintln(stderr, "cephfs-csi orphans:", err)
	}
	return code
}

// run does the work; connect replaces the connection to Ceph in tests.
func run(ctx context.Context, o options, stdin io.Reader, stdout, stderr io.Writer, connect func(context.Context, *config.Cluster) (controller.Session, error)) (int, error) {
	if (o.secretDir == "") == (o.keyring == "") {
		return ExitTrouble, errors.New("give the credential with exactly one of --secret-dir and --keyring")
	}
	if o.handles == "-" && o.snapshotHandles == "-" {
		return ExitTrouble, errors.New("only one of --handles and --snapshot-handles can be standard input")
	}
	if o.handles == "" && !o.allowEmpty {
		return ExitTrouble, errors.New("--handles is required: without the live volume handles every volume would be an orphan (--allow-empty to accept that)")
	}
	cfg, err := config.Load(o.clusterConfig)
	if err != nil {
		return ExitTrouble, err
	}
	handles, err := readHandles(o.handles, stdin, stderr)
	if err != nil {
		return ExitTrouble, fmt.Errorf("--handles: %w", err)
	}
	snapHandles, err := readHandles(o.snapshotHandles, stdin, stderr)
	if err != nil {
		return ExitTrouble, fmt.Errorf("--snapshot-handles: %w", err)
	}
	if connect == nil {
		pool := ceph.NewPool(o.cephTimeout, time.Minute)
		defer pool.Close()
		connect = func(ctx context.Context, cluster *config.Cluster) (controller.Session, error) {
			creds, err := credentials(o, cluster)
			if err != nil {
				return nil, err
			}
			return pool.Connect(ctx, cluster, creds)
		}
	}
	rep := &controller.Orphans{Config: cfg, Connect: connect, Options: controller.OrphanOptions{
		Handles: handles, SnapshotHandles: snapHandles, AllowEmpty: o.allowEmpty, MinAge: o.minAge,
		Clusters: o.clusters, Filesystems: o.filesystems, Groups: o.groups, IncludeUnclaimed: o.includeUnclaimed,
	}}
	items, err := rep.Scan(ctx)
	if err != nil {
		return ExitTrouble, err
	}
	failed := 0
	if o.remove {
		failed = rep.Remove(ctx, items)
	}
	if err := report(stdout, items, o.json, o.remove); err != nil {
		return ExitTrouble, err
	}
	n := count(items, controller.StatusOrphan)
	fmt.Fprintf(stderr, "%d orphans, %d in progress, %d unknown", n, count(items, controller.StatusInProgress), count(items, controller.StatusUnknown))
	if o.remove {
		fmt.Fprintf(stderr, "; %d removals failed", failed)
	}
	fmt.Fprintln(stderr)
	switch {
	case failed > 0:
		return ExitTrouble, fmt.Errorf("%d of %d removals failed", failed, n)
	case n > 0:
		return ExitFound, nil
	}
	return ExitNone, nil
}

func count(items []controller.OrphanItem, status string) int {
	n := 0
	for _, it := range items {
		if it.Status == status {
			n++
		}
	}
	return n
}

// report writes the report: a table (one line per item, the removal's
// result last with --delete) or one JSON document.
func report(w io.Writer, items []controller.OrphanItem, asJSON, removed bool) error {
	if asJSON {
		if items == nil {
			items = []controller.OrphanItem{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Items []controller.OrphanItem `json:"items"`
		}{items})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "STATUS\tKIND\tCLUSTER\tFS\tGROUP\tSUBVOLUME\tSNAPSHOT\tHANDLE\tREASON"
	if removed {
		head += "\tRESULT"
	}
	fmt.Fprintln(tw, head)
	for _, it := range items {
		row := []string{it.Status, it.Kind, it.ClusterID, it.FSName, dash(it.Group), dash(it.Subvolume), dash(it.Snapshot), dash(it.Handle), it.Reason}
		if removed {
			row = append(row, dash(it.Result))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
