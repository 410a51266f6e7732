// Command csic is a small CSI client for trying the driver by hand: it
// speaks CSI over the driver's unix socket as a CO would, with the secrets
// and StorageClass parameters that `make run` writes next to the socket
// (_build/run/), and prints what a person wants to read: volume IDs,
// capacities, paths. Errors carry the driver's gRPC code and message. No
// secret is ever printed.
//
//	go run ./hack/csic create demo 1Gi
//	go run ./hack/csic mount demo /mnt/demo
//	df -h /mnt/demo
//
// Volumes it creates are remembered by name (their ID and volume context,
// as a PersistentVolume would hold them) in the run directory, so that later
// commands take the name; an ID works too.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/cephfs-csi/cephfs-csi/hack/internal/csiargs"
	"github.com/cephfs-csi/cephfs-csi/hack/internal/runfiles"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand: its arguments, after its own flags, and what
// it does with them.
type command struct {
	args  string
	about string
	flags func(fs *flag.FlagSet) // nil: no flags of its own
	nargs [2]int                 // minimum and maximum positional arguments
	run   func(ctx context.Context, c *client, args []string) error
}

// newCommands makes the commands afresh for each run: their flags'
// variables belong to one command line.
func newCommands() map[string]*command {
	commands := map[string]*command{}
	for _, group := range [][]namedCommand{identityCommands(), volumeCommands(), nodeCommands(), snapshotCommands()} {
		for _, nc := range group {
			commands[nc.name] = nc.cmd
		}
	}
	return commands
}

type namedCommand struct {
	name string
	cmd  *command
}

// order is the order of the usage text.
var order = []string{
	"create", "delete", "expand", "list", "mount", "unmount", "stats",
	"stage", "publish", "unpublish", "unstage",
	"snapshot create", "snapshot delete", "snapshot list",
	"info", "probe", "caps", "controller-caps", "node-info",
}

// defaultEndpoint is $CSI_ENDPOINT, else make run's socket under the
// current directory.
func defaultEndpoint() string {
	if e := os.Getenv("CSI_ENDPOINT"); e != "" {
		return e
	}
	wd, err := os.Getwd()
	if err != nil {
		wd = "."
	}
	return "unix://" + filepath.Join(wd, "_build", "run", runfiles.Socket)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("csic", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("endpoint", defaultEndpoint(), "the driver's CSI endpoint (default: $CSI_ENDPOINT, else make run's)")
	secrets := fs.String("secrets", "", "CSI secrets, csi-sanity's format (default: secrets.yaml beside the socket, when there)")
	params := fs.String("parameters", "", "StorageClass parameters, a flat YAML map (default: parameters.yaml beside the socket, when there)")
	stateDir := fs.String("state-dir", "", "where csic remembers the volumes it created and stages them (default: csic/ beside the socket)")
	timeout := fs.Duration("timeout", 2*time.Minute, "deadline of each call")
	jsonOut := fs.Bool("json", false, "print the driver's responses as JSON instead")
	commands := newCommands()
	fs.Usage = func() { usage(fs, commands) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		usage(fs, commands)
		return 2
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	// "snapshot create" is "snapshot-create".
	if name == "snapshot" && len(rest) > 0 {
		name, rest = name+"-"+rest[0], rest[1:]
	}
	cmd := commands[name]
	if cmd == nil {
		fmt.Fprintf(stderr, "csic: unknown command %q\n", name)
		usage(fs, commands)
		return 2
	}
	display := strings.Replace(name, "-", " ", 1)
	cfs := flag.NewFlagSet("csic "+display, flag.ContinueOnError)
	cfs.SetOutput(stderr)
	if cmd.flags != nil {
		cmd.flags(cfs)
	}
	cfs.Usage = func() {
		fmt.Fprintf(stderr, "usage: csic %s %s\n  %s\n", display, cmd.args, cmd.about)
		cfs.PrintDefaults()
	}
	// Flags may come after the arguments too: csic create demo 2Gi -param k=v.
	var positional []string
	for {
		if err := cfs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if cfs.NArg() == 0 {
			break
		}
		positional, rest = append(positional, cfs.Arg(0)), cfs.Args()[1:]
	}
	if n := len(positional); n < cmd.nargs[0] || n > cmd.nargs[1] {
		cfs.Usage()
		return 2
	}
	c, err := newClient(*endpoint, *secrets, *params, *stateDir, *timeout, *jsonOut, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "csic:", err)
		return 2
	}
	defer c.close()
	if err := cmd.run(ctx, c, positional); err != nil {
		fmt.Fprintln(stderr, "csic:", err)
		return 1
	}
	return 0
}

func usage(fs *flag.FlagSet, commands map[string]*command) {
	w := fs.Output()
	fmt.Fprintln(w, "usage: csic [flags] COMMAND [command flags] ARGS")
	fmt.Fprintln(w, "\nVOLUME is the name a volume was created under here, or a volume ID. Commands:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, name := range order {
		c := commands[strings.Replace(name, " ", "-", 1)]
		fmt.Fprintf(tw, "  %s %s\t%s\n", name, c.args, c.about)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nFlags (before the command):")
	fs.PrintDefaults()
	fmt.Fprintln(w, "\n"+strings.TrimSpace(`
Example, with make run in another terminal:
  go run ./hack/csic create demo 1Gi
  go run ./hack/csic mount demo /mnt/demo
  df -h /mnt/demo`))
}

// sizeArg reads a size argument such as 1Gi.
func sizeArg(s string) (int64, error) {
	n, err := csiargs.ParseSize(s)
	if err != nil {
		return 0, fmt.Errorf("size %w", err)
	}
	return n, nil
}
