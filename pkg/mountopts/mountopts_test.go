package mountopts

import "testing"

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
