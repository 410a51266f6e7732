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
		Target: target, Monitors: req.Monitors, FSName: req.FSName, Path: req.Path,
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
	}
	return fmt.Errorf("mount holder (%s): %s", resp.Status, e.Error)
}

// Mounts lists the ceph-fuse processes the holder runs.
func (c *Client) Mounts(ctx context.Context) ([]Mount, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://mount-holder"+mountsPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, contract.Errorf(contract.ErrUnavailable, "the mount holder at %s does not answer: %v", c.Socket, err)
	}
	defer resp.Body.Close()
	var list []Mount
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, fmt.Errorf("mount holder list: %w", err)
	}
	return list, nil
}

func (c *Client) http() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", c.Socket)
		},
	}}
}
