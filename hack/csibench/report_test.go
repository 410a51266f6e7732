package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func sampleReport() *Report {
	row := func(name string, conc int, p50 time.Duration, base string) OpRow {
		return OpRow{Name: name, Concurrency: conc, Summary: Summarize([]time.Duration{p50}, p50), Base: base}
	}
	return &Report{
		Tool: "csibench", Driver: "cephfs-csi.io", DriverVersion: "v1",
		Started:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Settings: Settings{Count: 1, Concurrency: []int{1, 8}, DataMiB: 16},
		Ops: []OpRow{
			row(floorCreate, 1, milli(10), ""),
			row("CreateVolume", 1, milli(15), floorCreate),
			row(floorCreate, 8, milli(40), ""),
			row("CreateVolume", 8, milli(20), floorCreate),
			row("NodeGetVolumeStats", 1, 1500*time.Microsecond, floorStatfs), // no floor row: no ratio
		},
		Data: []DataRow{
			{Name: rowWritePublished, Bytes: 16 << 20, Elapsed: 2 * time.Second, Base: rowWriteDirect},
			{Name: rowWriteDirect, Bytes: 16 << 20, Elapsed: time.Second},
		},
		Memory: []MemRow{{Name: "driver, idle", Bytes: 30 << 20}},
		Notes:  []string{"a note"},
	}
}

func TestTable(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := sampleReport().WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	// find returns the fields of the line that starts with name's
	// fields, followed by conc when conc is set.
	find := func(name, conc string) []string {
		t.Helper()
		n := len(strings.Fields(name))
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) > n && strings.Join(f[:n], " ") == name && (conc == "" || f[n] == conc) {
				return f
			}
			if len(f) == n && strings.Join(f, " ") == name {
				return f
			}
		}
		t.Fatalf("no line %q (C=%s) in:\n%s", name, conc, buf.String())
		return nil
	}
	tests := []struct {
		prefix, conc string
		want         []string // fields after the name
	}{
		{"operation", "", []string{"C", "n", "p50", "p90", "p99", "max", "ops/s", "retries", "ratio", "vs"}},
		{"CreateVolume", "1", []string{"1", "1", "15.0ms", "15.0ms", "15.0ms", "15.0ms", "66.7", "0", "1.50x", "floor:", "subvolume", "create+getpath"}},
		{"CreateVolume", "8", []string{"8", "1", "20.0ms", "20.0ms", "20.0ms", "20.0ms", "50.0", "0", "0.50x", "floor:", "subvolume", "create+getpath"}},
		{"NodeGetVolumeStats", "1", []string{"1", "1", "1.50ms", "1.50ms", "1.50ms", "1.50ms", "666.7", "0", "-", "floor:", "statfs(2)"}},
		{"data path", "", []string{"MiB", "seconds", "MiB/s", "ratio", "vs"}},
		{rowWritePublished, "", []string{"16", "2.00", "8.0", "2.00x", "write:", "direct", "ceph-fuse", "mount"}},
		{rowWriteDirect, "", []string{"16", "1.00", "16.0", "-"}},
		{"driver, idle", "", []string{"30.0"}},
		{"note: a note", "", []string{}},
	}
	for _, tt := range tests {
		f := find(tt.prefix, tt.conc)
		got := f[len(strings.Fields(tt.prefix)):]
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%s (C=%s): got %q, want %q", tt.prefix, tt.conc, got, tt.want)
		}
	}
}

func TestTableColumnsLineUp(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := sampleReport().WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	// In each section every line ends its numeric columns at the same
	// place: the ratio column's right edge.
	section := strings.Split(buf.String(), "\n\n")[0]
	edge := -1
	for _, l := range strings.Split(section, "\n") {
		i := strings.LastIndex(l, "  ")
		for i > 0 && l[i-1] == ' ' {
			i--
		}
		if edge == -1 {
			edge = i
		} else if i != edge {
			t.Errorf("ratio column ends at %d, not %d, in %q\n%s", i, edge, l, section)
		}
	}
}

func TestJSONLine(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := sampleReport().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("not one line: %q", out)
	}
	var got struct {
		Tool, Driver  string
		DriverVersion string `json:"driver_version"`
		Settings      map[string]any
		Ops           []map[string]any
		Data          []map[string]any
		Memory        []map[string]any
		Notes         []string
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Tool != "csibench" || got.Driver != "cephfs-csi.io" || got.DriverVersion != "v1" || got.Settings["data_mib"] != 16.0 {
		t.Errorf("header: %+v", got)
	}
	if len(got.Ops) != 5 || len(got.Data) != 2 || len(got.Memory) != 1 || len(got.Notes) != 1 {
		t.Fatalf("rows: %s", out)
	}
	create8 := got.Ops[3]
	want := map[string]any{"name": "CreateVolume", "concurrency": 8.0, "n": 1.0, "p50_ms": 20.0, "p90_ms": 20.0,
		"p99_ms": 20.0, "max_ms": 20.0, "mean_ms": 20.0, "ops_per_s": 50.0, "base": floorCreate, "ratio": 0.5}
	for k, v := range want {
		if create8[k] != v {
			t.Errorf("ops[3][%s] = %v, want %v", k, create8[k], v)
		}
	}
	if _, ok := got.Ops[0]["ratio"]; ok {
		t.Errorf("a floor row has a ratio: %v", got.Ops[0])
	}
	if _, ok := got.Ops[4]["ratio"]; ok {
		t.Errorf("a row whose base was not measured has a ratio: %v", got.Ops[4])
	}
	if d := got.Data[0]; d["mib_per_s"] != 8.0 || d["seconds"] != 2.0 || d["ratio"] != 2.0 || d["bytes"] != float64(16<<20) {
		t.Errorf("data[0] = %v", d)
	}
	if m := got.Memory[0]; m["name"] != "driver, idle" || m["bytes"] != float64(30<<20) {
		t.Errorf("memory[0] = %v", m)
	}
}

func TestMillisecondFormats(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{16 * time.Microsecond, "0.02ms"}, {9990 * time.Microsecond, "9.99ms"}, {milli(42), "42.0ms"}, {1498 * time.Millisecond, "1498ms"}} {
		if got := ms(tt.d); got != tt.want {
			t.Errorf("ms(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
