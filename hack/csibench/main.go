// Command csibench measures a CSI driver against the floor of what its calls
// must do, in one run: it speaks plain CSI over the driver's unix socket (so
// it drives any CSI driver), and does the same work straight through go-ceph,
// ceph-fuse and mount(2) for comparison. It prints a table and one JSON line
// with every figure on standard output, and its progress on standard error.
// Everything it creates (volumes, snapshots, subvolumes, mounts, key files)
// is removed at the end, also after a failure or an interrupt.
//
//	go run ./hack/csibench --endpoint unix:///run/csi.sock --parameters params.yaml \
//	    --secrets secrets.yaml --cluster-config config.json --driver-pid PID
//
// hack/bench.sh runs it against the driver on the embedded cluster (make bench).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	opts, err := parseOptions(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "csibench:", err)
		return 2
	}
	// pkg/ceph logs through klog; its errors are the run's.
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)

	// The first interrupt stops the measurements; the cleanup runs to its
	// end whatever comes after (its steps have deadlines).
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	b, err := setUp(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "csibench:", err)
		return 1
	}
	runErr := b.measure(ctx)
	b.prog.Phase("cleaning up", b.undo.Pending())
	cleanErr := b.cleanUp()
	b.prog.Done()
	if err := b.report.WriteTable(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "csibench:", err)
		return 1
	}
	if err := b.report.WriteJSON(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "csibench:", err)
		return 1
	}
	code := 0
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "csibench: stopped:", runErr)
		code = 1
	}
	if cleanErr != nil {
		fmt.Fprintln(os.Stderr, "csibench: cleanup incomplete:", cleanErr)
		code = 1
	}
	return code
}
