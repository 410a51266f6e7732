package main

import (
	"math"
	"slices"
	"time"
)

// Summary describes the latencies of one measurement.
type Summary struct {
	N                  int
	P50, P90, P99, Max time.Duration
	Mean               time.Duration
	OpsPerSec          float64 // N over the measurement's wall time
	Wall               time.Duration
}

// Summarize computes a Summary from the latencies of n operations that took
// wall in all (longer than their sum when some ran concurrently with the
// tool's own work, shorter when they ran concurrently with each other).
// Percentiles use the nearest-rank method: p is the smallest sample that at
// least p% of the samples do not exceed, so every figure is a latency that
// was observed, and p99 of fewer than 100 samples is the maximum.
func Summarize(samples []time.Duration, wall time.Duration) Summary {
	if len(samples) == 0 {
		return Summary{Wall: wall}
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	s := Summary{
		N:    len(sorted),
		P50:  nearestRank(sorted, 50),
		P90:  nearestRank(sorted, 90),
		P99:  nearestRank(sorted, 99),
		Max:  sorted[len(sorted)-1],
		Mean: sum / time.Duration(len(sorted)),
		Wall: wall,
	}
	if wall > 0 {
		s.OpsPerSec = float64(len(sorted)) / wall.Seconds()
	}
	return s
}

// nearestRank returns the p-th percentile of sorted (ascending, not empty).
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

// ratio is a/b, or 0 when either is unknown (no base, or nothing measured).
func ratio(a, b float64) float64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	return a / b
}
