package ceph

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cephfs-csi/cephfs-csi/pkg/errs"
)

// A key as `ceph-authtool --gen-print-key` prints it.
const goodKey = "AQBzV1FnAAAAABAAx7tS0cLsO9fcQ4rN1f0XWQ=="

func TestCredentialsFromSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		secrets map[string]string
		admin   bool
		wantID  string
		wantErr bool
	}{
		{"admin pair", map[string]string{"adminID": "admin", "adminKey": goodKey}, true, "admin", false},
		{"user pair", map[string]string{"userID": "csi", "userKey": goodKey}, false, "csi", false},
		{"admin pair on node", map[string]string{"adminID": "admin", "adminKey": goodKey}, false, "admin", false},
		{"both, prefer admin", map[string]string{"adminID": "admin", "adminKey": goodKey, "userID": "u", "userKey": goodKey}, true, "admin", false},
		{"both, prefer user", map[string]string{"adminID": "admin", "adminKey": goodKey, "userID": "u", "userKey": goodKey}, false, "u", false},
		{"none", map[string]string{}, true, "", true},
		{"id without key", map[string]string{"adminID": "admin"}, true, "", true},
		{"garbage key", map[string]string{"adminID": "admin", "adminKey": "not-a-key"}, true, "", true},
		{"short key", map[string]string{"adminID": "admin", "adminKey": "AQBzV1FnAAAAABAA"}, true, "", true},
		{"bad id", map[string]string{"adminID": "ad min", "adminKey": goodKey}, true, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := CredentialsFromSecrets(tt.secrets, tt.admin)
			if tt.wantErr {
				if !errors.Is(err, errs.ErrInvalid) {
					t.Fatalf("error = %v, want ErrInvalid", err)
				}
				for _, v := range tt.secrets {
					if len(v) > 8 && strings.Contains(err.Error(), v) {
						t.Fatalf("error leaks a secret value: %v", err)
					}
				}
				return
			}
			if err != nil || c.ID != tt.wantID {
				t.Fatalf("got %v, %v; want ID %q", c, err, tt.wantID)
			}
		})
	}
}

func TestCredentialsNeverPrintKey(t *testing.T) {
	t.Parallel()
	c := Credentials{ID: "admin", Key: goodKey}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
		if strings.Contains(s, goodKey) {
			t.Fatalf("key printed: %s", s)
		}
	}
}

type cephErr int

func (e cephErr) Error() string  { return fmt.Sprintf("ret=%d", int(e)) }
func (e cephErr) ErrorCode() int { return int(e) }

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want error
	}{
		{cephErr(-2), errs.ErrNotFound},
		{cephErr(-17), errs.ErrAlreadyExists},
		{cephErr(-13), errs.ErrPermission},
		{cephErr(-110), errs.ErrUnavailable},
		{fmt.Errorf("x: %w", cephErr(-39)), errs.ErrFailedPrecondition},
	}
	for _, tt := range tests {
		got := classify(tt.err, "op")
		if !errors.Is(got, tt.want) || !strings.HasPrefix(got.Error(), "op: ") {
			t.Errorf("classify(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if classify(nil, "op") != nil {
		t.Error("classify(nil) != nil")
	}
}

func TestWithPorts(t *testing.T) {
	t.Parallel()
	tests := map[string][]string{
		"10.0.0.1:6789": {"10.0.0.1:6789"},
		"mon-a":         {"mon-a:6789", "mon-a:3300"},
		"[::1]:3300":    {"[::1]:3300"},
		"::1":           {"[::1]:6789", "[::1]:3300"},
	}
	for in, want := range tests {
		if got := withPorts(in); !slices.Equal(got, want) {
			t.Errorf("withPorts(%q) = %v, want %v", in, got, want)
		}
	}
}
