package ceph

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/cephfs-csi/cephfs-csi/pkg/config"
)

// ProbeMonitors checks that at least one of the cluster's monitors answers:
// it opens a TCP connection and reads the messenger banner ("ceph v2" for
// msgr2, "ceph v027" for msgr1). It needs no credentials, so the identity
// service can run it on every Probe.
func ProbeMonitors(ctx context.Context, cluster *config.Cluster) error {
	var errList []error
	for _, m := range cluster.MonitorAddrs() {
		for _, addr := range withPorts(m) {
			err := probeBanner(ctx, addr)
			if err == nil {
				return nil
			}
			errList = append(errList, err)
		}
	}
	if len(errList) == 0 {
		return errors.New("no monitor address")
	}
	return errors.Join(errList...)
}

func probeBanner(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("monitor %s: %w", addr, err)
	}
	defer conn.Close()
	deadline := time.Now().Add(2 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetReadDeadline(deadline)
	buf := make([]byte, 6)
	if _, err := readFull(conn, buf); err != nil {
		return fmt.Errorf("monitor %s: no banner: %w", addr, err)
	}
	if string(buf) != "ceph v" {
		return fmt.Errorf("monitor %s: not a Ceph messenger", addr)
	}
	return nil
}

func readFull(c net.Conn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// withPorts adds the monitor ports to an address that has none: 6789
// (msgr1) and 3300 (msgr2) are both tried.
func withPorts(addr string) []string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return []string{addr}
	}
	host := strings.Trim(addr, "[]")
	return []string{net.JoinHostPort(host, "6789"), net.JoinHostPort(host, "3300")}
}
