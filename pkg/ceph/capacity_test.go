package ceph

import "testing"

// TestParseDF reads `ceph df detail --format json` as Pacific 16.2.15
// answers it (trimmed), and bounds a pool's room by its quota: Pacific's
// max_avail ignores the quota.
func TestParseDF(t *testing.T) {
	t.Parallel()
	out := []byte(`{"stats":{"total_bytes":4294967296},"pools":[
 {"name":"myfs-data0","id":2,"stats":{"stored":0,"objects":0,"percent_used":0,"max_avail":4064038656,"quota_objects":0,"quota_bytes":0}},
 {"name":"myfs-data1","id":3,"stats":{"stored":65536,"objects":1,"max_avail":4064038656,"quota_objects":0,"quota_bytes":4096}},
 {"name":"myfs-data2","id":4,"stats":{"stored":1000,"objects":1,"max_avail":4064038656,"quota_bytes":10000000}}]}`)
	usage, err := parseDF(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		pool  string
		avail int64
		full  bool
	}{
		{"myfs-data0", 4064038656, false},
		{"myfs-data1", 0, true},
		{"myfs-data2", 10000000 - 1000, false},
	} {
		u, ok := usage[tt.pool]
		if !ok {
			t.Fatalf("%s missing from %v", tt.pool, usage)
		}
		if u.Available() != tt.avail || u.Full() != tt.full {
			t.Errorf("%s: available %d, full %v; want %d, %v", tt.pool, u.Available(), u.Full(), tt.avail, tt.full)
		}
	}
	if _, err := parseDF([]byte("not json")); err == nil {
		t.Error("garbage parsed")
	}
}
