package main

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/proto"
)

// identityCommands print the driver's answers as they are: JSON.
func identityCommands() []namedCommand {
	raw := func(about, call string, fn func(ctx context.Context, c *client) (proto.Message, error)) *command {
		return &command{about: about, run: func(ctx context.Context, c *client, _ []string) error {
			var resp proto.Message
			if err := c.call(ctx, call, func(ctx context.Context) (err error) {
				resp, err = fn(ctx, c)
				return err
			}); err != nil {
				return err
			}
			c.printJSON(resp)
			return nil
		}}
	}
	return []namedCommand{
		{"info", raw("the driver's name and version", "GetPluginInfo", func(ctx context.Context, c *client) (proto.Message, error) {
			return c.id.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
		})},
		{"probe", raw("is the driver ready", "Probe", func(ctx context.Context, c *client) (proto.Message, error) {
			return c.id.Probe(ctx, &csi.ProbeRequest{})
		})},
		{"caps", raw("the plugin's capabilities", "GetPluginCapabilities", func(ctx context.Context, c *client) (proto.Message, error) {
			return c.id.GetPluginCapabilities(ctx, &csi.GetPluginCapabilitiesRequest{})
		})},
		{"controller-caps", raw("the controller's capabilities", "ControllerGetCapabilities", func(ctx context.Context, c *client) (proto.Message, error) {
			return c.ctl.ControllerGetCapabilities(ctx, &csi.ControllerGetCapabilitiesRequest{})
		})},
		{"node-info", raw("the node's ID and topology", "NodeGetInfo", func(ctx context.Context, c *client) (proto.Message, error) {
			return c.node.NodeGetInfo(ctx, &csi.NodeGetInfoRequest{})
		})},
	}
}
