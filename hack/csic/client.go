package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/cephfs-csi/cephfs-csi/hack/internal/csiargs"
	"github.com/cephfs-csi/cephfs-csi/hack/internal/runfiles"
)

// client is the driver on the other end of the socket, with what csic sends
// along and where it keeps its records.
type client struct {
	conn     *grpc.ClientConn
	id       csi.IdentityClient
	ctl      csi.ControllerClient
	node     csi.NodeClient
	secrets  csiargs.Secrets
	params   map[string]string
	state    string
	timeout  time.Duration
	json     bool
	out      io.Writer
	endpoint string
}

func newClient(endpoint, secretsFile, paramsFile, stateDir string, timeout time.Duration, jsonOut bool, out io.Writer) (*client, error) {
	sock, ok := strings.CutPrefix(endpoint, "unix://")
	if !ok || sock == "" {
		return nil, fmt.Errorf("-endpoint %q: want unix:///path/to/csi.sock", endpoint)
	}
	dir := filepath.Dir(sock)
	c := &client{
		secrets: csiargs.NewSecrets(), params: map[string]string{}, state: stateDir,
		timeout: timeout, json: jsonOut, out: out, endpoint: endpoint,
	}
	if c.state == "" {
		c.state = filepath.Join(dir, "csic")
	}
	// make run's files are read when there; a file named by a flag must be.
	if err := loadOptional(secretsFile, filepath.Join(dir, runfiles.Secrets), c.secrets.Load); err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	if err := loadOptional(paramsFile, filepath.Join(dir, runfiles.Parameters), func(p string) error {
		return csiargs.MergeFlatFile(p, c.params)
	}); err != nil {
		return nil, fmt.Errorf("parameters: %w", err)
	}
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	c.conn, c.id, c.ctl, c.node = conn, csi.NewIdentityClient(conn), csi.NewControllerClient(conn), csi.NewNodeClient(conn)
	return c, nil
}

func loadOptional(given, fallback string, load func(string) error) error {
	if given != "" {
		return load(given)
	}
	if _, err := os.Stat(fallback); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return load(fallback)
}

func (c *client) close() { c.conn.Close() }

// call runs one RPC within the deadline and names it in the error, with
// the gRPC code and the driver's message.
func (c *client) call(ctx context.Context, what string, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	err := fn(ctx)
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", what, err)
	}
	msg := fmt.Sprintf("%s: %s: %s", what, st.Code(), st.Message())
	if st.Code() == codes.Unavailable {
		msg += fmt.Sprintf(" (is the driver serving %s? make run starts it)", c.endpoint)
	}
	return errors.New(msg)
}

// printJSON prints a response for -json; responses hold no secrets.
func (c *client) printJSON(m proto.Message) {
	fmt.Fprintln(c.out, protojson.Format(m))
}

// printf prints the friendly output, which -json replaces.
func (c *client) printf(format string, args ...any) {
	if !c.json {
		fmt.Fprintf(c.out, format, args...)
	}
}

// page is a List RPC's response: its entries and the token of the next page.
type page interface {
	proto.Message
	GetNextToken() string
}

// eachPage calls a List RPC page by page, from the first until the driver
// gives no next token: in -json mode each response is printed as it is,
// otherwise handed to rows.
func eachPage[R page](ctx context.Context, c *client, method string, list func(ctx context.Context, token string) (R, error), rows func(R)) error {
	token := ""
	for {
		var resp R
		if err := c.call(ctx, method, func(ctx context.Context) (err error) {
			resp, err = list(ctx, token)
			return err
		}); err != nil {
			return err
		}
		if c.json {
			c.printJSON(resp)
		} else {
			rows(resp)
		}
		if token = resp.GetNextToken(); token == "" {
			return nil
		}
	}
}
