// Command csic is a minimal CSI client for poking a running driver:
//
//	go run ./hack/csic -endpoint unix:///path/csi.sock info|probe|caps
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func main() {
	endpoint := flag.String("endpoint", "unix:///tmp/cephfs-csi/csi.sock", "driver endpoint")
	timeout := flag.Duration("timeout", 10*time.Second, "RPC timeout")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: csic [-endpoint unix:///path] info|probe|caps|controller-caps|node-info")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	conn, err := grpc.NewClient(*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "csic:", err)
		os.Exit(1)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	id, ctl, node := csi.NewIdentityClient(conn), csi.NewControllerClient(conn), csi.NewNodeClient(conn)
	var resp proto.Message
	switch flag.Arg(0) {
	case "info":
		resp, err = id.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
	case "probe":
		resp, err = id.Probe(ctx, &csi.ProbeRequest{})
	case "caps":
		resp, err = id.GetPluginCapabilities(ctx, &csi.GetPluginCapabilitiesRequest{})
	case "controller-caps":
		resp, err = ctl.ControllerGetCapabilities(ctx, &csi.ControllerGetCapabilitiesRequest{})
	case "node-info":
		resp, err = node.NodeGetInfo(ctx, &csi.NodeGetInfoRequest{})
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "csic:", err)
		os.Exit(1)
	}
	fmt.Println(protojson.Format(resp))
}
