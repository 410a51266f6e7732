// Package mountopts validates user-supplied mount options, which travel from a
// StorageClass, a PV or the kubelet to a mount command line.
package mountopts

import (
	"fmt"
	"slices"
	"strings"
)

// Validate accepts a comma-separated list of options ("noatime,rsize=65536")
// and rejects anything that could smuggle in another option or argument:
// empty items, whitespace, control characters, quotes and a leading dash.
// Options that carry credentials are refused too: the driver passes those
// itself.
//
// The one exception to "no quotes" is an SELinux option, which the kubelet
// sends quoted because its category list holds commas:
// context="system_u:object_r:container_file_t:s0:c1,c2". Its value must be
// one well-formed SELinux context (see CheckContext), quoted as a whole or
// not at all, so a quote can neither hide a second option nor leave one open.
func Validate(opts string) error {
	if opts == "" {
		return nil
	}
	unquotedContext := ""
	for _, o := range Split(opts) {
		if o == "" {
			return fmt.Errorf("empty option in %q", opts)
		}
		if strings.HasPrefix(o, "-") {
			return fmt.Errorf("option %q starts with '-'", o)
		}
		for _, c := range o {
			if c <= ' ' || c == 0x7f || c == '\'' || c == '\\' {
				return fmt.Errorf("option %q contains a space, quote or control character", o)
			}
		}
		name, value, _ := strings.Cut(o, "=")
		if IsSELinux(o) {
			if err := checkSELinux(name, value); err != nil {
				return err
			}
			if !strings.HasPrefix(value, `"`) {
				unquotedContext = o
			}
			continue
		}
		if strings.ContainsRune(o, '"') {
			return fmt.Errorf("option %q contains a double quote: only the value of an SELinux option (%s) may be quoted", o, strings.Join(selinuxNames, ", "))
		}
		if unquotedContext != "" && isCategories(o) {
			selinuxName, _, _ := strings.Cut(unquotedContext, "=")
			return fmt.Errorf("option %q follows %q: an SELinux context whose categories hold a comma must be quoted (%s=\"…\")", o, unquotedContext, selinuxName)
		}
		unquotedContext = ""
		switch strings.ToLower(name) {
		case "secret", "secretfile", "name", "key", "keyring", "keyfile", "mds_namespace", "fs", "id":
			return fmt.Errorf("option %q is set by the driver and cannot be overridden", name)
		}
	}
	return nil
}

// Split returns the options of a list: it splits at the commas outside
// double quotes, as the kernel and mount(8) do, so that a quoted SELinux
// context stays one option.
func Split(opts string) []string {
	if opts == "" {
		return nil
	}
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(opts); i++ {
		switch opts[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, opts[start:i])
				start = i + 1
			}
		}
	}
	return append(out, opts[start:])
}

// selinuxNames are the mount options the kernel's SELinux takes for itself
// (and mount(8) drops on a host without SELinux). The kubelet sends context.
var selinuxNames = []string{"context", "fscontext", "defcontext", "rootcontext"}

// IsSELinux tells whether option o sets an SELinux label.
func IsSELinux(o string) bool {
	name, _, ok := strings.Cut(o, "=")
	return ok && slices.Contains(selinuxNames, name)
}

// checkSELinux checks the value of SELinux option name: one context,
// quoted as a whole or not at all.
func checkSELinux(name, value string) error {
	ctx := value
	if strings.HasPrefix(value, `"`) {
		if len(value) < 2 || !strings.HasSuffix(value, `"`) {
			return fmt.Errorf("option %s=%s: the quote must close at the end of the value", name, value)
		}
		ctx = value[1 : len(value)-1]
	}
	if strings.ContainsRune(ctx, '"') {
		return fmt.Errorf("option %s=%s: a quote inside the value", name, value)
	}
	if err := CheckContext(ctx); err != nil {
		return fmt.Errorf("option %s=%s: %w", name, value, err)
	}
	return nil
}

// CheckContext accepts an SELinux context in its raw form,
// user:role:type:level, where level is a sensitivity with optional
// categories ("s0", "s0:c1,c2", "s0:c0.c1023") or a range of two
// ("s0-s0:c0.c1023"). Translated levels ("SystemLow") are refused: the
// kubelet sends raw ones, and nothing on the way translates them.
func CheckContext(ctx string) error {
	parts := strings.SplitN(ctx, ":", 4)
	if len(parts) != 4 {
		return fmt.Errorf("SELinux context %q: want user:role:type:level", ctx)
	}
	for i, what := range []string{"user", "role", "type"} {
		if !isIdentifier(parts[i]) {
			return fmt.Errorf("SELinux context %q: %s %q: want letters, digits, '_', '.' or '-', starting with a letter or '_'", ctx, what, parts[i])
		}
	}
	low, high, isRange := strings.Cut(parts[3], "-")
	if !isLevel(low) || isRange && !isLevel(high) {
		return fmt.Errorf("SELinux context %q: level %q: want s<N>, s<N>:<categories> or a range <level>-<level>, categories c<N> or c<N>.c<M> separated by commas", ctx, parts[3])
	}
	return nil
}

func isIdentifier(s string) bool {
	if s == "" || !(isLetter(s[0]) || s[0] == '_') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !isDigit(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// isLevel: s<N>[:<categories>].
func isLevel(s string) bool {
	sens, cats, hasCats := strings.Cut(s, ":")
	if !isNumbered(sens, 's') {
		return false
	}
	return !hasCats || isCategories(cats)
}

// isCategories: c<N> or c<N>.c<M>, separated by commas.
func isCategories(s string) bool {
	for _, c := range strings.Split(s, ",") {
		first, last, isRange := strings.Cut(c, ".")
		if !isNumbered(first, 'c') || isRange && !isNumbered(last, 'c') {
			return false
		}
	}
	return true
}

// isNumbered: prefix followed by 1 to 4 digits (SELinux allows 1024
// categories and 16 sensitivities by default).
func isNumbered(s string, prefix byte) bool {
	if len(s) < 2 || len(s) > 5 || s[0] != prefix {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
