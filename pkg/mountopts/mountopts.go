// Package mountopts validates user-supplied mount options, which travel from a
// StorageClass or a PV to a mount command line.
package mountopts

import (
	"fmt"
	"strings"
)

// Validate accepts a comma-separated list of options ("noatime,rsize=65536")
// and rejects anything that could smuggle in another option or argument:
// empty items, whitespace, control characters, quotes and a leading dash.
// Options that carry credentials are refused too: the driver passes those
// itself.
func Validate(opts string) error {
	if opts == "" {
		return nil
	}
	for _, o := range strings.Split(opts, ",") {
		if o == "" {
			return fmt.Errorf("empty option in %q", opts)
		}
		if strings.HasPrefix(o, "-") {
			return fmt.Errorf("option %q starts with '-'", o)
		}
		for _, c := range o {
			if c <= ' ' || c == 0x7f || c == '"' || c == '\'' || c == '\\' {
				return fmt.Errorf("option %q contains a space, quote or control character", o)
			}
		}
		name, _, _ := strings.Cut(o, "=")
		switch strings.ToLower(name) {
		case "secret", "secretfile", "name", "key", "keyring", "keyfile", "mds_namespace", "fs", "id":
			return fmt.Errorf("option %q is set by the driver and cannot be overridden", name)
		}
	}
	return nil
}

// Split returns the options of a validated list.
func Split(opts string) []string {
	if opts == "" {
		return nil
	}
	return strings.Split(opts, ",")
}
