package mountholder

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/mounter"
)

// Client asks the mount holder on Socket to mount; it is the node
// plugin's mounter.Holder.
type Client struct {
	Socket string
}

// Mount asks the holder to run ceph-fuse for req at target and waits for
// its answer, within ctx.
func (c *Client) Mount(ctx context.Context, req mounter.Request, target string) error {
	body := MountRequest{
		Target: target, VolumeID: req.VolumeID, Monitors: req.Monitors, FSName: req.FSName, Path: req.Path,
		ClientID: req.Creds.ID, Key: req.Creds.Key, Options: req.Options,
	}
	if deadline, ok := ctx.Deadline(); ok {
		body.TimeoutSeconds = max(1, int(time.Until(deadline).Seconds()))
	}
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	// The host part is a placeholder: the transport dials the socket.
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://mount-holder"+mountsPath, bytes.NewReader(data))
	if err != nil {
		return err
	}
	httpReq.Header.Set("Content-Type", "application/json")
	resp, err := c.http().Do(httpReq)
	if err != nil {
		return contract.Errorf(contract.ErrUnavailable, "the mount holder at %s does not answer: %v", c.Socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusCreated {
		return nil
	}
	var e errorBody
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxRequest))
	if json.Unmarshal(raw, &e) != nil || e.Error == "" {
		e.Error = string(raw)
	}
	switch resp.StatusCode {
	case http.StatusBadRequest:
		return contract.Invalid("the mount holder refused the mount: %s", e.Error)
	case http.StatusConflict:
		return contract.Errorf(contract.ErrBusy, "mount holder: %s", e.Error)
	case http.StatusBadGateway: // ceph-fuse ended: its output is in the message
		if refused := mounter.RefusedSELinux(req.Options, e.Error); refused != nil {
			return refused
		}
	}
	return fmt.Errorf("mount holder (%s): %s", resp.Status, e.Error)
}

// Mounts lists the ceph-fuse processes the holder runs.
func (c *Client) Mounts(ctx context.Context) ([]Mount, error) {
	var list []Mount
	return list, c.get(ctx, mountsPath, &list)
}

// Held returns what each mount the holder runs was made with, credentials
// included, for a node plugin that started after those mounts.
func (c *Client) Held(ctx context.Context) ([]mounter.Held, error) {
	var list []MountRequest
	if err := c.get(ctx, requestsPath, &list); err != nil {
		return nil, err
	}
	held := make([]mounter.Held, 0, len(list))
	for _, r := range list {
		held = append(held, mounter.Held{Target: r.Target, Request: mounter.Request{
			VolumeID: r.VolumeID, Monitors: r.Monitors, FSName: r.FSName, Path: r.Path,
			Creds: contract.Credentials{ID: r.ClientID, Key: r.Key}, Options: r.Options,
		}})
	}
	return held, nil
}

// get decodes the JSON answer to a GET of path into out.
func (c *Client) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://mount-holder"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return contract.Errorf(contract.ErrUnavailable, "the mount holder at %s does not answer: %v", c.Socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mount holder %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("mount holder %s: %w", path, err)
	}
	return nil
}

func (c *Client) http() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", c.Socket)
		},
	}}
}
