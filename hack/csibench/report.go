package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"
)

// Report is every figure of one run. It is printed twice: as a table for
// people and as one JSON line for programs (the line's fields are the JSON
// tags below; durations in milliseconds, sizes in bytes).
type Report struct {
	Tool          string    `json:"tool"`
	Driver        string    `json:"driver"`
	DriverVersion string    `json:"driver_version"`
	Started       time.Time `json:"started"`
	Settings      Settings  `json:"settings"`
	Ops           []OpRow   `json:"ops"`
	Data          []DataRow `json:"data"`
	Memory        []MemRow  `json:"memory"`
	Notes         []string  `json:"notes,omitempty"`
	Error         string    `json:"error,omitempty"` // why the run stopped early
}

// Settings are the sizes of the run, so that figures from runs of different
// sizes are not compared by mistake.
type Settings struct {
	Count       int   `json:"count"`
	Concurrency []int `json:"concurrency"`
	Clones      int   `json:"clones"`
	DataMiB     int   `json:"data_mib"`
	Scale       int   `json:"scale"`
	Staged      int   `json:"staged"`
}

// OpRow is the latency of one operation at one concurrency. Base names the
// row it is compared with (the floor, or the same call at a smaller scale)
// and Ratio is this row's p50 over the base's (0: no base).
type OpRow struct {
	Name        string
	Concurrency int
	Summary
	Retries int // calls sent again (Aborted, Unavailable, ResourceExhausted)
	Base    string
	Ratio   float64
}

// DataRow is one sequential transfer; Ratio is the base's MiB/s over this
// row's, so that, as for latencies, above 1 means slower than the base.
type DataRow struct {
	Name    string
	Bytes   int64
	Elapsed time.Duration
	Base    string
	Ratio   float64
}

// MiBPerSec is the row's throughput.
func (d DataRow) MiBPerSec() float64 {
	if d.Elapsed <= 0 {
		return 0
	}
	return float64(d.Bytes) / (1 << 20) / d.Elapsed.Seconds()
}

// MemRow is a resident set size.
type MemRow struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
}

// compare sets each row's ratio to the row named base (same concurrency for
// latencies: the floor at C=8 for the driver at C=8).
func (r *Report) compare() {
	for i := range r.Ops {
		row := &r.Ops[i]
		for _, b := range r.Ops {
			if row.Base != "" && b.Name == row.Base && b.Concurrency == row.Concurrency {
				row.Ratio = ratio(float64(row.P50), float64(b.P50))
			}
		}
	}
	for i := range r.Data {
		row := &r.Data[i]
		for _, b := range r.Data {
			if row.Base != "" && b.Name == row.Base {
				row.Ratio = ratio(b.MiBPerSec(), row.MiBPerSec())
			}
		}
	}
}

// WriteTable prints the report for people.
func (r *Report) WriteTable(w io.Writer) error {
	r.compare()
	// Numbers are right-aligned; names are padded here so that they
	// stay left-aligned.
	width := 0
	for _, o := range r.Ops {
		width = max(width, len(o.Name))
	}
	for _, d := range r.Data {
		width = max(width, len(d.Name))
	}
	for _, m := range r.Memory {
		width = max(width, len(m.Name))
	}
	pad := func(s string) string { return fmt.Sprintf("%-*s", width, s) }
	sections := []func(io.Writer){
		func(tw io.Writer) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t  %s\n", pad("operation"), "C", "n", "p50", "p90", "p99", "max", "ops/s", "retries", "ratio", "vs")
			for _, o := range r.Ops {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%.1f\t%d\t%s\t  %s\n", pad(o.Name), o.Concurrency, o.N,
					ms(o.P50), ms(o.P90), ms(o.P99), ms(o.Max), o.OpsPerSec, o.Retries, times(o.Ratio), o.Base)
			}
		},
		func(tw io.Writer) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t  %s\n", pad("data path"), "MiB", "seconds", "MiB/s", "ratio", "vs")
			for _, d := range r.Data {
				fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.1f\t%s\t  %s\n", pad(d.Name), float64(d.Bytes)/(1<<20), d.Elapsed.Seconds(), d.MiBPerSec(), times(d.Ratio), d.Base)
			}
		},
		func(tw io.Writer) {
			fmt.Fprintf(tw, "%s\t%s\t\n", pad("footprint"), "RSS MiB")
			for _, m := range r.Memory {
				fmt.Fprintf(tw, "%s\t%.1f\t\n", pad(m.Name), float64(m.Bytes)/(1<<20))
			}
		},
	}
	for i, section := range sections {
		if i > 0 {
			fmt.Fprintln(w)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		section(tw)
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, n := range r.Notes {
		if _, err := fmt.Fprintf(w, "note: %s\n", n); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON prints the report as one line of JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	r.compare()
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// MarshalJSON flattens the summary into milliseconds.
func (o OpRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name        string  `json:"name"`
		Concurrency int     `json:"concurrency"`
		N           int     `json:"n"`
		P50         float64 `json:"p50_ms"`
		P90         float64 `json:"p90_ms"`
		P99         float64 `json:"p99_ms"`
		Max         float64 `json:"max_ms"`
		Mean        float64 `json:"mean_ms"`
		OpsPerSec   float64 `json:"ops_per_s"`
		Retries     int     `json:"retries,omitempty"`
		Base        string  `json:"base,omitempty"`
		Ratio       float64 `json:"ratio,omitempty"`
	}{o.Name, o.Concurrency, o.N, msf(o.P50), msf(o.P90), msf(o.P99), msf(o.Max), msf(o.Mean), round(o.OpsPerSec, 2), o.Retries, o.Base, round(o.Ratio, 3)})
}

// MarshalJSON gives the transfer's seconds and MiB/s.
func (d DataRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name      string  `json:"name"`
		Bytes     int64   `json:"bytes"`
		Seconds   float64 `json:"seconds"`
		MiBPerSec float64 `json:"mib_per_s"`
		Base      string  `json:"base,omitempty"`
		Ratio     float64 `json:"ratio,omitempty"`
	}{d.Name, d.Bytes, round(d.Elapsed.Seconds(), 3), round(d.MiBPerSec(), 1), d.Base, round(d.Ratio, 3)})
}

// ms formats a latency for the table: three significant figures or so.
func ms(d time.Duration) string {
	v := msf(d)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2fms", v)
	case v < 1000:
		return fmt.Sprintf("%.1fms", v)
	default:
		return fmt.Sprintf("%.0fms", v)
	}
}

func times(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", r)
}

// msf is d in milliseconds, to the microsecond.
func msf(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}
