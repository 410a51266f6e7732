package main

import (
	"os"
	"testing"
)

func TestParseStatus(t *testing.T) {
	t.Parallel()
	status := "Name:\tcephfs-csi\nVmPeak:\t 1000 kB\nVmHWM:\t   47000 kB\nVmRSS:\t   45000 kB\n" +
		"RssAnon:\t   17000 kB\nRssFile:\t   28000 kB\nRssShmem:\t       0 kB\nThreads:\t12\n"
	m, err := parseStatus([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Memory{RSS: 45000 << 10, Peak: 47000 << 10, Anon: 17000 << 10, File: 28000 << 10}); m != want {
		t.Errorf("got %+v, want %+v", m, want)
	}
	// Kernels before 4.5 have no RssAnon/RssFile.
	if m, err := parseStatus([]byte("VmHWM:\t2 kB\nVmRSS:\t1 kB\n")); err != nil || m != (Memory{RSS: 1 << 10, Peak: 2 << 10}) {
		t.Errorf("without RssAnon/RssFile: %+v, %v", m, err)
	}
	for _, bad := range []string{"Name:\tkthreadd\n", "VmRSS:\t12 MB\nVmHWM:\t1 kB\n", "VmRSS:\tx kB\nVmHWM:\t1 kB\n"} {
		if _, err := parseStatus([]byte(bad)); err == nil {
			t.Errorf("parseStatus(%q) accepted", bad)
		}
	}
}

func TestProcessMemoryOfThisProcess(t *testing.T) {
	t.Parallel()
	m, err := processMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.Peak < m.RSS {
		t.Errorf("got %+v", m)
	}
}

func TestIsFuseFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cmdline string
		want    bool
	}{
		{"ceph-fuse\x00/st/a\x00-c\x00/dev/null\x00", true},
		{"/usr/bin/ceph-fuse\x00-f\x00/st/a\x00", true},
		{"ceph-fuse\x00/st/ab\x00", false},
		{"cephfs-csi\x00/st/a\x00", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isFuseFor([]byte(tt.cmdline), "/st/a"); got != tt.want {
			t.Errorf("isFuseFor(%q) = %v, want %v", tt.cmdline, got, tt.want)
		}
	}
}
