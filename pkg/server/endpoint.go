package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ParseEndpoint accepts unix:///path, unix:/path, a bare /path, or
// tcp://host:port (for tests and debugging only).
func ParseEndpoint(ep string) (network, addr string, err error) {
	switch {
	case strings.HasPrefix(ep, "unix://"):
		network, addr = "unix", strings.TrimPrefix(ep, "unix://")
	case strings.HasPrefix(ep, "unix:"):
		network, addr = "unix", strings.TrimPrefix(ep, "unix:")
	case strings.HasPrefix(ep, "tcp://"):
		network, addr = "tcp", strings.TrimPrefix(ep, "tcp://")
	case strings.HasPrefix(ep, "/"):
		network, addr = "unix", ep
	default:
		return "", "", fmt.Errorf("endpoint %q: want unix:///path/to/socket or tcp://host:port", ep)
	}
	if addr == "" {
		return "", "", fmt.Errorf("endpoint %q: empty address", ep)
	}
	if network == "unix" && !filepath.IsAbs(addr) {
		return "", "", fmt.Errorf("endpoint %q: socket path must be absolute", ep)
	}
	return network, addr, nil
}

// Listen opens the endpoint. A unix socket file left by a dead process is
// replaced; one that a live process still answers on is refused. The
// returned cleanup removes the socket file.
func Listen(endpoint string) (net.Listener, func(), error) {
	network, addr, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, nil, err
	}
	if network == "unix" {
		if err := os.MkdirAll(filepath.Dir(addr), 0o750); err != nil {
			return nil, nil, fmt.Errorf("endpoint %s: %w", endpoint, err)
		}
		if err := removeStaleSocket(addr); err != nil {
			return nil, nil, fmt.Errorf("endpoint %s: %w", endpoint, err)
		}
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		return nil, nil, fmt.Errorf("endpoint %s: %w", endpoint, err)
	}
	cleanup := func() {}
	if network == "unix" {
		cleanup = func() { _ = os.Remove(addr) }
	}
	return l, cleanup, nil
}

func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket; refusing to replace it", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s is in use by a running process", path)
	}
	return os.Remove(path)
}
