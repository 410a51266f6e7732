// Command runconfig writes what `make run` needs in RUN_DIR (see
// hack/internal/runfiles): the driver's config.json, and the secrets.yaml and
// parameters.yaml that hack/csic sends.
//
//	go run ./hack/runconfig CLUSTER_DIR RUN_DIR
package main

import (
	"fmt"
	"os"

	"github.com/cephfs-csi/cephfs-csi/hack/internal/runfiles"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: runconfig CLUSTER_DIR RUN_DIR")
		os.Exit(2)
	}
	if err := runfiles.Write(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintf(os.Stderr, "runconfig: %v\n", err)
		os.Exit(1)
	}
}
