package contract

import (
	"errors"
	"fmt"
	"strings"
	"testing"
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
				if !errors.Is(err, ErrInvalid) {
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
