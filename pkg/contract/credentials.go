package contract

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// Credentials are a CephX user name (without "client.") and its key. The key
// never leaves memory except into a 0600 key file that the node removes once
// a mount is up.
type Credentials struct {
	ID  string
	Key string
}

// String hides the key, so credentials can never be logged by accident.
func (c Credentials) String() string { return "client." + c.ID + " (key redacted)" }

// GoString hides the key from %#v too.
func (c Credentials) GoString() string { return c.String() }

// Secret keys, as ceph-csi and Rook name them.
const (
	AdminIDKey  = "adminID"
	AdminKeyKey = "adminKey"
	UserIDKey   = "userID"
	UserKeyKey  = "userKey"
)

// CredentialsFromSecrets picks the credentials out of CSI secrets. Either the
// admin pair or the user pair is accepted (Rook's node secret carries the
// admin pair); preferAdmin says which to take when both are present.
func CredentialsFromSecrets(secrets map[string]string, preferAdmin bool) (Credentials, error) {
	pairs := [][2]string{{UserIDKey, UserKeyKey}, {AdminIDKey, AdminKeyKey}}
	if preferAdmin {
		pairs[0], pairs[1] = pairs[1], pairs[0]
	}
	for _, p := range pairs {
		id, key := secrets[p[0]], secrets[p[1]]
		if id == "" && key == "" {
			continue
		}
		if id == "" || key == "" {
			return Credentials{}, fmt.Errorf("%w: secret has %s without %s (or the reverse)", ErrInvalid, p[0], p[1])
		}
		c := Credentials{ID: id, Key: key}
		if err := c.Validate(); err != nil {
			return Credentials{}, err
		}
		return c, nil
	}
	return Credentials{}, fmt.Errorf("%w: secrets must carry %s/%s or %s/%s", ErrInvalid, AdminIDKey, AdminKeyKey, UserIDKey, UserKeyKey)
}

// Validate checks the user name and the key's form: a base64 CephX secret as
// ceph-authtool makes (type 1 = AES, 16 secret bytes). librados echoes an
// undecodable key on stderr, so a malformed one must never reach it. The
// error never contains the key.
func (c Credentials) Validate() error {
	for i := 0; i < len(c.ID); i++ {
		ch := c.ID[i]
		if ch <= ' ' || ch > '~' || ch == ',' || ch == '=' || ch == '/' {
			return fmt.Errorf("%w: CephX user ID %q contains an invalid character", ErrInvalid, c.ID)
		}
	}
	if c.ID == "" {
		return fmt.Errorf("%w: CephX user ID is empty", ErrInvalid)
	}
	raw, err := base64.StdEncoding.DecodeString(c.Key)
	// type (2) + created (8) + length (2) + secret (16)
	if err != nil || len(raw) != 28 || binary.LittleEndian.Uint16(raw[0:2]) != 1 || binary.LittleEndian.Uint16(raw[10:12]) != 16 {
		return fmt.Errorf("%w: the key of client.%s is not a base64 CephX key", ErrInvalid, c.ID)
	}
	return nil
}
