package mountopts

import (
	"slices"
	"strings"
	"testing"
)

// kubeletContext is what the kubelet v1.37 sends (AddSELinuxMountOption:
// fmt.Sprintf("context=%q", label)).
const kubeletContext = `context="system_u:object_r:container_file_t:s0:c1,c2"`

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		opts string
		ok   bool
	}{
		{"", true},
		{"noatime", true},
		{"noatime,rsize=65536,recover_session=clean", true},
		{"noatime,", false},
		{",noatime", false},
		{"noatime,,ro", false},
		{"a b", false},
		{"a\nb", false},
		{"--client_mountpoint=/", false},
		{"secretfile=/tmp/x", false},
		{"noatime,name=admin", false},
		{`x="y"`, false},

		// SELinux contexts as the kubelet and users write them.
		{kubeletContext, true},
		{"noatime," + kubeletContext + ",ro", true},
		{"context=system_u:object_r:container_file_t:s0", true},
		{`context="system_u:object_r:container_file_t:s0"`, true},
		{`context="system_u:object_r:container_file_t:s0-s0:c0.c1023"`, true},
		{`context="system_u:object_r:container_file_t:s0:c0.c255,c300,c1023"`, true},
		{`context="unconfined_u:object_r:svirt_sandbox_file_t:s0:c5"`, true},
		{`fscontext="system_u:object_r:container_file_t:s0:c1,c2"`, true},
		{`defcontext=system_u:object_r:fusefs_t:s0`, true},
		{`rootcontext=system_u:object_r:container_file_t:s0:c1`, true},

		// Hostile or malformed ones.
		{`context="a,b",secretfile=/x`, false},
		{kubeletContext + ",secretfile=/x", false},
		{`context="system_u:object_r:container_file_t:s0:c1,secretfile=/x"`, false},
		{`context="system_u:object_r:container_file_t:s0:c1",secretfile="/x"`, false},
		{`context="system_u:object_r:container_file_t:s0:c1,c2`, false},      // never closed
		{`noatime,context="system_u:object_r:container_file_t:s0,ro`, false}, // never closed
		{`context=system_u:object_r:container_file_t:s0:c1,c2"`, false},      // closed, never opened
		{`context="system_u:object_r:container_file_t:s0"x`, false},          // after the quote
		{`context="system_u:object_r:container_file_t:s0""`, false},          // quote inside
		{`context=""`, false}, // empty
		{`context="`, false},  // a lone quote
		{`context='system_u:object_r:container_file_t:s0'`, false},             // single quotes
		{`context="system_u:object_r:container_file_t:s0\",x=\""`, false},      // backslash
		{`context="system_u:object_r:container_file_t:s0 "`, false},            // space
		{"context=\"system_u:object_r:container_file_t:s0\n\"", false},         // newline
		{`context=system_u:object_r:container_file_t:s0:c1,c2`, false},         // unquoted commas
		{`context=system_u:object_r:container_file_t`, false},                  // no level
		{`context=system_u:object_r:container_file_t:SystemLow`, false},        // translated level
		{`context=system_u:object_r:container_file_t:s0:c1:c2`, false},         // a colon in the categories
		{`context=system_u:object_r:container_file_t:s0:`, false},              // empty categories
		{`context="system_u:object_r:container_file_t:s0:c1,"`, false},         // empty category
		{`context="system_u:object_r:container_file_t:s0:c1.c"`, false},        // bad category range
		{`context=system_u:object_r:container_file_t:s0-`, false},              // half a range
		{`context=system_u:object_r:container_file_t:s99999`, false},           // absurd sensitivity
		{`context=system_u::container_file_t:s0`, false},                       // empty role
		{`context=1system_u:object_r:container_file_t:s0`, false},              // starts with a digit
		{`context=system_u:object_r:container/file_t:s0`, false},               // slash
		{`context=system_u:object_r:container_file_t:s0,secretfile=/x`, false}, // credentials after it
		{`x="system_u:object_r:container_file_t:s0"`, false},                   // quotes on another option
		{`Context="system_u:object_r:container_file_t:s0"`, false},             // names are case-sensitive
		{`noatime,"`, false},
		{`"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.opts, func(t *testing.T) {
			t.Parallel()
			if err := Validate(tt.opts); (err == nil) != tt.ok {
				t.Errorf("Validate(%q) = %v, want ok=%v", tt.opts, err, tt.ok)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		opts string
		want []string
	}{
		{"", nil},
		{"noatime", []string{"noatime"}},
		{"noatime,ro", []string{"noatime", "ro"}},
		{"noatime," + kubeletContext + ",ro", []string{"noatime", kubeletContext, "ro"}},
		{`a="b,c",d="e,f"`, []string{`a="b,c"`, `d="e,f"`}},
		// An unclosed quote keeps the rest in one option, which Validate
		// then refuses: nothing after it becomes an option of its own.
		{`context="x,secretfile=/y`, []string{`context="x,secretfile=/y`}},
	}
	for _, tt := range tests {
		if got := Split(tt.opts); !slices.Equal(got, tt.want) {
			t.Errorf("Split(%q) = %q, want %q", tt.opts, got, tt.want)
		}
	}
}

// TestValidateNamesTheProblem: the message says what to fix.
func TestValidateNamesTheProblem(t *testing.T) {
	t.Parallel()
	tests := []struct{ opts, want string }{
		{`context=system_u:object_r:container_file_t:s0:c1,c2`, `must be quoted (context="…")`},
		{`context="system_u:object_r:container_file_t:s0:c1,c2`, "the quote must close at the end of the value"},
		{`context=system_u:object_r:container_file_t`, "want user:role:type:level"},
		{`context=system_u:object_r:container_file_t:SystemLow`, `level "SystemLow"`},
		{`x="y"`, "only the value of an SELinux option"},
	}
	for _, tt := range tests {
		err := Validate(tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%q) = %v, want it to say %q", tt.opts, err, tt.want)
		}
	}
}

func TestIsSELinux(t *testing.T) {
	t.Parallel()
	for o, want := range map[string]bool{
		kubeletContext: true, "fscontext=x": true, "defcontext=x": true, "rootcontext=x": true,
		"context": false, "noatime": false, "Context=x": false, "seclabel": false,
	} {
		if got := IsSELinux(o); got != want {
			t.Errorf("IsSELinux(%q) = %v, want %v", o, got, want)
		}
	}
}
