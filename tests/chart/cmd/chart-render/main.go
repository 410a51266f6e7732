// Command chart-render prints charts/cephfs-csi rendered as `helm template`
// does, with Helm's library: tests/e2e applies its output to the API server
// (server-side dry run) without a helm binary or Helm in its module.
//
//	go run ./cmd/chart-render -chart ../../charts/cephfs-csi -namespace cephfs-csi -values '{"mountHolder":{"enabled":false}}'
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/cephfs-csi/cephfs-csi/tests/chart/render"
)

func main() {
	dir := flag.String("chart", "../../charts/cephfs-csi", "the chart's directory")
	release := flag.String("release", "cephfs-csi", "the release's name")
	namespace := flag.String("namespace", "cephfs-csi", "the release's namespace")
	values := flag.String("values", "{}", "values over the chart's values.yaml, as JSON")
	flag.Parse()
	var vals map[string]any
	if err := json.Unmarshal([]byte(*values), &vals); err != nil {
		fmt.Fprintf(os.Stderr, "chart-render: -values: %v\n", err)
		os.Exit(2)
	}
	out, err := render.Chart(*dir, *release, *namespace, vals)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chart-render: %v\n", err)
		os.Exit(1)
	}
	fmt.Print(out)
}
