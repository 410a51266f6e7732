package main

import (
	"testing"
	"time"
)

func msList(ms ...int) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(m) * time.Millisecond
	}
	return out
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted
	}
	tests := []struct {
		name               string
		samples            []time.Duration
		wall               time.Duration
		p50, p90, p99, max time.Duration
		mean               time.Duration
		opsPerSec          float64
	}{
		{"one sample is every percentile", msList(7), 7 * time.Millisecond, milli(7), milli(7), milli(7), milli(7), milli(7), 1000.0 / 7},
		{"nearest rank of four: p50 is the 2nd, p90 and p99 the 4th", msList(40, 10, 30, 20), 100 * time.Millisecond,
			milli(20), milli(40), milli(40), milli(40), milli(25), 40},
		{"ten", msList(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), time.Second, milli(5), milli(9), milli(10), milli(10), 5500 * time.Microsecond, 10},
		{"a hundred", msList(hundred...), 2 * time.Second, milli(50), milli(90), milli(99), milli(100), 50500 * time.Microsecond, 50},
		{"no wall time: no throughput", msList(3), 0, milli(3), milli(3), milli(3), milli(3), milli(3), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := Summarize(tt.samples, tt.wall)
			if s.N != len(tt.samples) || s.P50 != tt.p50 || s.P90 != tt.p90 || s.P99 != tt.p99 || s.Max != tt.max || s.Mean != tt.mean {
				t.Errorf("got n=%d p50=%v p90=%v p99=%v max=%v mean=%v, want n=%d %v %v %v %v %v",
					s.N, s.P50, s.P90, s.P99, s.Max, s.Mean, len(tt.samples), tt.p50, tt.p90, tt.p99, tt.max, tt.mean)
			}
			if diff := s.OpsPerSec - tt.opsPerSec; diff > 1e-9 || diff < -1e-9 {
				t.Errorf("ops/s = %v, want %v", s.OpsPerSec, tt.opsPerSec)
			}
		})
	}
}

func TestSummarizeLeavesSamplesAlone(t *testing.T) {
	t.Parallel()
	samples := msList(3, 1, 2)
	Summarize(samples, time.Second)
	if samples[0] != milli(3) || samples[1] != milli(1) || samples[2] != milli(2) {
		t.Errorf("samples reordered: %v", samples)
	}
}

func TestSummarizeNothing(t *testing.T) {
	t.Parallel()
	if s := Summarize(nil, time.Second); s.N != 0 || s.P50 != 0 || s.OpsPerSec != 0 {
		t.Errorf("Summarize(nil) = %+v", s)
	}
}

func TestRatio(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ a, b, want float64 }{{3, 2, 1.5}, {1, 0, 0}, {0, 1, 0}, {-1, 2, 0}} {
		if got := ratio(tt.a, tt.b); got != tt.want {
			t.Errorf("ratio(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func milli(n int) time.Duration { return time.Duration(n) * time.Millisecond }
