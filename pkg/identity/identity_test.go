package identity

import (
	"context"
	"errors"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

func TestGetPluginInfo(t *testing.T) {
	t.Parallel()
	resp, err := New("cephfs.example.io", "v1.2.3", true, nil).GetPluginInfo(context.Background(), &csi.GetPluginInfoRequest{})
	if err != nil || resp.GetName() != "cephfs.example.io" || resp.GetVendorVersion() != "v1.2.3" {
		t.Fatalf("GetPluginInfo = %v, %v", resp, err)
	}
}

func TestGetPluginCapabilities(t *testing.T) {
	t.Parallel()
	for _, controller := range []bool{true, false} {
		resp, err := New("n", "v", controller, nil).GetPluginCapabilities(context.Background(), &csi.GetPluginCapabilitiesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var hasController, hasExpansion bool
		for _, c := range resp.GetCapabilities() {
			if c.GetService().GetType() == csi.PluginCapability_Service_CONTROLLER_SERVICE {
				hasController = true
			}
			if c.GetVolumeExpansion().GetType() == csi.PluginCapability_VolumeExpansion_ONLINE {
				hasExpansion = true
			}
		}
		if hasController != controller || !hasExpansion {
			t.Errorf("controller=%v: caps %v", controller, resp.GetCapabilities())
		}
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	var down error
	s := New("n", "v", true, func(context.Context) error { return down })
	resp, err := s.Probe(context.Background(), &csi.ProbeRequest{})
	if err != nil || !resp.GetReady().GetValue() {
		t.Fatalf("healthy probe = %v, %v", resp, err)
	}
	down = errors.New("monitor 127.0.0.1:3300: connection refused")
	resp, err = s.Probe(context.Background(), &csi.ProbeRequest{})
	if err != nil || resp.GetReady().GetValue() {
		t.Fatalf("unhealthy probe = %v, %v", resp, err)
	}
}
