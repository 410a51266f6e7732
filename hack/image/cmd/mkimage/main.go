// Command mkimage assembles an image without a container engine: a base
// layer from a root file system tree and a layer holding one file, the
// entrypoint, written as a docker-archive tarball. For the driver's image
// (hack/image.sh) they are Debian with the Ceph clients and the driver
// binary; hack/e2e-kubelet.sh builds the kubelet e2e test's images with it
// too. The same inputs give the same bytes: every time stamp is fixed,
// entries are sorted, owners are numeric and no extended attributes are
// kept.
//
//	mkimage -rootfs DIR [-rootfs-layer FILE] -binary FILE -tag REF [-tag REF]...
//	        [-label K=V]... [-env K=V]... [-cmd ARG]... [-stop-signal SIG]
//	        [-base-history TEXT] [-binary-history TEXT] [-created UNIX] -out FILE.tar
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var (
		o              options
		tags, labels   list
		env, cmd       list
		created, epoch int64
	)
	fs := flag.NewFlagSet("mkimage", flag.ExitOnError)
	fs.StringVar(&o.rootfs, "rootfs", "", "root file system tree of the base layer (required)")
	fs.StringVar(&o.rootfsLayer, "rootfs-layer", "", "cache of the base layer (.tar.gz): reused if it exists, else written; the caller names it after everything that defines the layer")
	fs.Int64Var(&epoch, "rootfs-epoch", 0, "modification time (Unix seconds) of every base layer entry; fixed so that the layer does not change with each commit")
	fs.StringVar(&o.binary, "binary", "", "the driver binary (required)")
	fs.StringVar(&o.binaryPath, "binary-path", "/usr/local/bin/cephfs-csi", "path of the binary in the image; also the entrypoint")
	fs.Var(&tags, "tag", "image reference to tag the image with (repeatable, at least one)")
	fs.Var(&labels, "label", "config label KEY=VALUE (repeatable)")
	fs.Var(&env, "env", "environment variable KEY=VALUE (repeatable; default PATH=Debian's)")
	fs.Var(&cmd, "cmd", "argument of the config's Cmd, the entrypoint's default arguments (repeatable; default none)")
	fs.StringVar(&o.stopSignal, "stop-signal", "", "the config's StopSignal, e.g. SIGINT (default none: the engine's, SIGTERM)")
	fs.StringVar(&o.baseHistory, "base-history", "hack/image.sh: Debian and hack/image/packages.txt", "history entry (created_by) of the base layer")
	fs.StringVar(&o.binaryHistory, "binary-history", "", "history entry (created_by) of the binary layer (default: the driver's go build, naming -binary-path)")
	fs.Int64Var(&created, "created", 0, "creation time (Unix seconds) of the image and of the binary layer's entries, e.g. $SOURCE_DATE_EPOCH or the last commit's time")
	fs.BoolVar(&o.checkLibs, "check-libs", true, "fail unless the root file system has every shared library the binary needs")
	fs.StringVar(&o.out, "out", "", "docker-archive tarball to write (required)")
	_ = fs.Parse(os.Args[1:])
	if o.rootfs == "" || o.binary == "" || o.out == "" || len(tags) == 0 || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "mkimage: -rootfs, -binary, -tag and -out are required; no arguments")
		fs.Usage()
		os.Exit(2)
	}
	o.tags = tags
	o.rootfsTime = time.Unix(epoch, 0).UTC()
	o.created = time.Unix(created, 0).UTC()
	o.env = env
	o.cmd = cmd
	if o.binaryHistory == "" {
		o.binaryHistory = "hack/image.sh: go build ./cmd/cephfs-csi -> " + o.binaryPath
	}
	if len(o.env) == 0 {
		o.env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	var err error
	if o.labels, err = keyValues(labels); err != nil {
		fail(err)
	}
	sum, err := build(o)
	if err != nil {
		fail(err)
	}
	sum.print(os.Stderr)
}

func keyValues(kvs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("label %q: want KEY=VALUE", kv)
		}
		m[k] = v
	}
	return m, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mkimage:", err)
	os.Exit(1)
}
