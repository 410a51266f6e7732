package csiargs

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MergeFlatFile reads a YAML map of strings into m, where m's keys win.
func MergeFlatFile(path string, m map[string]string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	file, err := stringMap(doc)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for k, v := range file {
		if _, set := m[k]; !set {
			m[k] = v
		}
	}
	return nil
}

// stringMap takes a YAML map's scalar values as strings ("1" for 1).
func stringMap(m map[string]any) (map[string]string, error) {
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case string:
			out[k] = v
		case int, float64, bool:
			out[k] = fmt.Sprint(v)
		default:
			return nil, fmt.Errorf("%s: want a string", k)
		}
	}
	return out, nil
}

// KeyValues is a repeatable key=value flag.
type KeyValues map[string]string

func (kv KeyValues) String() string { return fmt.Sprintf("%d values", len(kv)) }

// Set adds one key=value.
func (kv KeyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return errors.New("want key=value")
	}
	kv[k] = v
	return nil
}

var units = []struct {
	suffix string
	shift  uint
}{{"Ti", 40}, {"Gi", 30}, {"Mi", 20}, {"Ki", 10}}

// ParseSize reads a byte count with an optional Ki, Mi, Gi or Ti suffix.
func ParseSize(s string) (int64, error) {
	digits, shift := s, uint(0)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			digits, shift = rest, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 1 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("%q: want a positive size such as 1Gi", s)
	}
	return n << shift, nil
}

// FormatSize writes a byte count for people: "1 GiB", "1.5 MiB", "512 B".
func FormatSize(n int64) string {
	for _, u := range units {
		if n >= 1<<u.shift {
			v := float64(n) / float64(int64(1)<<u.shift)
			if n%(1<<u.shift) == 0 {
				return fmt.Sprintf("%d %sB", n>>u.shift, u.suffix)
			}
			return fmt.Sprintf("%.1f %sB", v, u.suffix)
		}
	}
	return fmt.Sprintf("%d B", n)
}
