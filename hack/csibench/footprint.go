package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Memory is a process's resident set size now and at its peak, and how the
// resident set divides into anonymous memory (heap, stacks, C allocations:
// what the process itself holds) and file-backed pages (the code and
// read-only data of its binary and libraries, shared with every process
// that maps the same files and dropped first under memory pressure), in
// bytes. Anon and File are 0 on kernels older than 4.5.
type Memory struct {
	RSS, Peak, Anon, File int64
}

// processMemory reads /proc/PID/status.
func processMemory(pid int) (Memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	return parseStatus(data)
}

// parseStatus reads VmRSS, VmHWM, RssAnon and RssFile (in kB) from a
// /proc/PID/status; the first two must be there.
func parseStatus(data []byte) (Memory, error) {
	var m Memory
	fields := map[string]*int64{"VmRSS": &m.RSS, "VmHWM": &m.Peak, "RssAnon": &m.Anon, "RssFile": &m.File}
	found := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		dst, known := fields[key]
		if !ok || !known {
			continue
		}
		words := strings.Fields(value)
		if len(words) != 2 || words[1] != "kB" {
			return Memory{}, fmt.Errorf("%s: unexpected %q", key, value)
		}
		kb, err := strconv.ParseInt(words[0], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("%s: %w", key, err)
		}
		*dst = kb << 10
		found[key] = true
	}
	if !found["VmRSS"] || !found["VmHWM"] {
		return Memory{}, fmt.Errorf("no VmRSS and VmHWM (a kernel thread, or a process that has exited)")
	}
	return m, nil
}

// fusePID finds the ceph-fuse process that serves the mount at target: its
// command line names target (the driver's, the mount holder's or ceph-csi's
// alike).
func fusePID(target string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // gone meanwhile
		}
		if isFuseFor(cmdline, target) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no ceph-fuse process serves %s", target)
}

// isFuseFor tells whether a NUL-separated command line runs ceph-fuse on
// target.
func isFuseFor(cmdline []byte, target string) bool {
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(args) < 2 || filepath.Base(args[0]) != "ceph-fuse" {
		return false
	}
	for _, a := range args[1:] {
		if a == target {
			return true
		}
	}
	return false
}
