package ceph

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// ProbeMonitors checks that at least one of mons answers as a Ceph monitor:
// it opens a TCP connection and reads the messenger banner ("ceph v2" for
// msgr2, "ceph v027" for msgr1). It needs no credentials, so the identity
// service can run it on every Probe.
func ProbeMonitors(ctx context.Context, mons []string) error {
	var errList []error
	for _, m := range mons {
		for _, addr := range monAddrs(m) {
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

// monAddrs turns one monitor entry of the cluster config into host:port
// addresses: "1.2.3.4", "1.2.3.4:6789", "v2:1.2.3.4:3300",
// "[v2:1.2.3.4:3300,v1:1.2.3.4:6789]", "[::1]:3300" and host names are all
// accepted. Without a port, 6789 (msgr1) and 3300 (msgr2) are tried.
func monAddrs(entry string) []string {
	entry = strings.TrimSpace(entry)
	if strings.HasPrefix(entry, "[v") || strings.HasPrefix(entry, "[V") {
		entry = strings.Trim(entry, "[]")
	}
	var out []string
	for _, a := range strings.Split(entry, ",") {
		a = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(a), "v1:"), "v2:")
		if i := strings.Index(a, "/"); i >= 0 { // nonce: "1.2.3.4:3300/0"
			a = a[:i]
		}
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err == nil {
			out = append(out, a)
			continue
		}
		host := strings.Trim(a, "[]")
		out = append(out, net.JoinHostPort(host, "6789"), net.JoinHostPort(host, "3300"))
	}
	return out
}
