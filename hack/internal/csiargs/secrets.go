// Package csiargs reads what the hack/ CSI clients (csic, csibench) are
// given on the command line: CSI secrets in csi-sanity's file format,
// StorageClass parameters, key=value flags and sizes. It never puts a
// secret's value in an error.
package csiargs

import (
	"flag"
	"fmt"
	"maps"
	"os"

	"go.yaml.in/yaml/v3"
)

// Secrets are the CSI secrets of each call, by csi-sanity's names
// (CreateVolumeSecret, NodeStageVolumeSecret, ...), and those sent with
// every call.
type Secrets struct {
	byCall map[string]map[string]string
	all    map[string]string
}

// NewSecrets returns an empty set.
func NewSecrets() Secrets {
	return Secrets{all: map[string]string{}}
}

// Flag is a repeatable key=value flag of secrets sent with every call; its
// values win over a file's.
func (s Secrets) Flag() flag.Value { return KeyValues(s.all) }

// For returns the secrets of one call (csi-sanity's name for it).
func (s Secrets) For(call string) map[string]string {
	out := maps.Clone(s.byCall[call])
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, s.all)
	return out
}

// Load reads either csi-sanity's file (a map of maps) or one flat map that
// applies to every call. Flags already given win over the file.
func (s *Secrets) Load(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// Not quoted: the file holds keys.
		return fmt.Errorf("%s is not a YAML map", path)
	}
	if s.all == nil {
		s.all = map[string]string{}
	}
	flags := maps.Clone(s.all)
	for k, v := range doc {
		switch v := v.(type) {
		case map[string]any:
			m, err := stringMap(v)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", path, k, err)
			}
			if s.byCall == nil {
				s.byCall = map[string]map[string]string{}
			}
			s.byCall[k] = m
		case string:
			s.all[k] = v
		default:
			return fmt.Errorf("%s: %s: want a string or a map of strings", path, k)
		}
	}
	maps.Copy(s.all, flags)
	return nil
}
