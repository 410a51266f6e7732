// Package volumeid owns the encoding of the volume and snapshot IDs this driver
// hands to the container orchestrator.
//
// An ID names everything a later call needs to find the subvolume without a
// lookup table:
//
//	volume:   cfs1:<clusterID>:<fsName>:<subvolumeGroup>:<subvolume>
//	snapshot: cfs1:<clusterID>:<fsName>:<subvolumeGroup>:<subvolume>:<snapshot>
//	shallow:  cfs1:<clusterID>:<fsName>:<name>
//
// A shallow volume is a snapshot mounted read-only: it has no subvolume, and
// its snapshot is found through a reference record kept in Ceph under its
// name (the ID would not fit 128 bytes with the snapshot's fields in it).
//
// "cfs1" is the version. ceph-csi's handles start with four hex digits and a
// dash ("0001-..."); "cfs1" is not a hex number, so the two can never be
// confused and a later version of this package can read theirs too. Fields are
// printable ASCII without ':' or '/', never empty; an encoded ID is at most 128
// bytes, as the CSI spec requires.
package volumeid

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

const (
	// Version is the first field of every ID this package encodes.
	Version = "cfs1"
	// MaxLen is the longest ID the CSI spec allows.
	MaxLen = 128
	sep    = ":"
	// nameDigestBytes keeps derived names short enough that a snapshot ID of
	// a long cluster ID and filesystem name still fits in MaxLen; 96 bits
	// (12 bytes, 20 base32 characters) make a collision between request names practically impossible.
	nameDigestBytes = 12
)

var (
	// ErrMalformed is returned for a string that is not an ID of ours.
	ErrMalformed = errors.New("malformed ID")
	// ErrTooLong is returned when the fields do not fit in MaxLen bytes.
	ErrTooLong = errors.New("ID would exceed 128 bytes")
	// ErrCephCSI is returned by DecodeVolume and DecodeSnapshot for a
	// ceph-csi handle ("0001-..."); DecodeCephCSI reads those.
	ErrCephCSI = errors.New("ceph-csi volume handle")
)

// Volume identifies a subvolume.
type Volume struct {
	ClusterID string
	FSName    string
	Group     string
	Subvolume string
}

// Snapshot identifies a snapshot of a subvolume.
type Snapshot struct {
	Volume
	Name string
}

// Shallow identifies a shallow volume: a snapshot mounted read-only, named
// by a reference record in the filesystem.
type Shallow struct {
	ClusterID string
	FSName    string
	Name      string
}

// Encode returns the volume ID.
func (v Volume) Encode() (string, error) {
	return encode(v.fields())
}

// Encode returns the snapshot ID.
func (s Snapshot) Encode() (string, error) {
	return encode(append(s.fields(), field{"snapshot name", s.Name}))
}

// Encode returns the shallow volume ID.
func (v Shallow) Encode() (string, error) {
	return encode([]field{{"cluster ID", v.ClusterID}, {"filesystem name", v.FSName}, {"shallow volume name", v.Name}})
}

// DecodeShallow parses a shallow volume ID.
func DecodeShallow(id string) (Shallow, error) {
	parts, err := decode(id, 3)
	if err != nil {
		return Shallow{}, err
	}
	return Shallow{ClusterID: parts[0], FSName: parts[1], Name: parts[2]}, nil
}

// DecodeVolume parses a volume ID.
func DecodeVolume(id string) (Volume, error) {
	parts, err := decode(id, 4)
	if err != nil {
		return Volume{}, err
	}
	return Volume{ClusterID: parts[0], FSName: parts[1], Group: parts[2], Subvolume: parts[3]}, nil
}

// DecodeSnapshot parses a snapshot ID.
func DecodeSnapshot(id string) (Snapshot, error) {
	parts, err := decode(id, 5)
	if err != nil {
		return Snapshot{}, err
	}
	return Snapshot{
		Volume: Volume{ClusterID: parts[0], FSName: parts[1], Group: parts[2], Subvolume: parts[3]},
		Name:   parts[4],
	}, nil
}

// DeriveName returns prefix followed by a 20-character (96-bit) digest of the
// request name. The same request name always gives the same subvolume or snapshot
// name, so the cluster itself records which request a subvolume belongs to,
// and a retry after a crash finds what the first attempt made.
func DeriveName(prefix, requestName string) string {
	sum := sha256.Sum256([]byte(requestName))
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:nameDigestBytes]))
}

// ValidName reports whether s may be used as a field (and so as a Ceph
// subvolume, group or snapshot name built by this driver).
func ValidName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || c == ':' || c == '/' {
			return false
		}
	}
	return true
}

type field struct{ name, value string }

func (v Volume) fields() []field {
	return []field{
		{"cluster ID", v.ClusterID},
		{"filesystem name", v.FSName},
		{"subvolume group", v.Group},
		{"subvolume name", v.Subvolume},
	}
}

func encode(fields []field) (string, error) {
	var b strings.Builder
	b.WriteString(Version)
	for _, f := range fields {
		if !ValidName(f.value) {
			return "", fmt.Errorf("%w: %s %q must be non-empty printable ASCII without ':' or '/'", ErrMalformed, f.name, f.value)
		}
		b.WriteString(sep)
		b.WriteString(f.value)
	}
	if b.Len() > MaxLen {
		return "", fmt.Errorf("%w: %d bytes (shorten the cluster ID, filesystem, group or name prefix)", ErrTooLong, b.Len())
	}
	return b.String(), nil
}

func decode(id string, n int) ([]string, error) {
	if isCephCSI(id) {
		return nil, fmt.Errorf("%w: %q", ErrCephCSI, id)
	}
	if len(id) > MaxLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxLen)
	}
	parts := strings.Split(id, sep)
	if len(parts) != n+1 || parts[0] != Version {
		return nil, fmt.Errorf("%w: %q is not a %s ID with %d fields", ErrMalformed, id, Version, n)
	}
	for _, p := range parts[1:] {
		if !ValidName(p) {
			return nil, fmt.Errorf("%w: %q has an empty or invalid field", ErrMalformed, id)
		}
	}
	return parts[1:], nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("0123456789abcdefABCDEF", rune(s[i])) {
			return false
		}
	}
	return true
}

// isCephCSI recognises ceph-csi's "0001-<hex len>-<clusterID>-..." handles.
func isCephCSI(id string) bool {
	if len(id) < 5 || id[4] != '-' {
		return false
	}
	return isHex(id[:4])
}

// CephCSI is what a ceph-csi (version 1) handle carries:
//
//	0001-<4 hex digits: length of clusterID>-<clusterID>-<16 hex digits: location>-<uuid>
//
// For CephFS the location is the filesystem's ID (fscid). The subvolume's
// name is in ceph-csi's journal, under the uuid (see pkg/ceph).
type CephCSI struct {
	ClusterID  string
	LocationID int64
	UUID       string
}

// DecodeCephCSI parses a ceph-csi volume or snapshot handle.
func DecodeCephCSI(id string) (CephCSI, error) {
	bad := func(why string) (CephCSI, error) {
		return CephCSI{}, fmt.Errorf("%w: %q is not a ceph-csi handle: %s", ErrMalformed, id, why)
	}
	if len(id) > MaxLen || !strings.HasPrefix(id, "0001-") {
		return bad("want version 0001, at most 128 bytes")
	}
	rest := id[5:]
	if len(rest) < 5 || rest[4] != '-' {
		return bad("no cluster ID length")
	}
	n, err := strconv.ParseUint(rest[:4], 16, 16)
	if err != nil || !isHex(rest[:4]) || n == 0 || int(n) > len(rest)-5 {
		return bad("bad cluster ID length")
	}
	clusterID := rest[5 : 5+n]
	rest = rest[5+n:]
	// -<16 hex>-<uuid of 36>
	if len(rest) != 1+16+1+36 || rest[0] != '-' || rest[17] != '-' {
		return bad("want -<16 hex digits>-<uuid> after the cluster ID")
	}
	loc, err := strconv.ParseInt(rest[1:17], 16, 64)
	if err != nil || !isHex(rest[1:17]) {
		return bad("location is not 16 hex digits")
	}
	uuid := rest[18:]
	for i, c := range uuid {
		dash := i == 8 || i == 13 || i == 18 || i == 23
		if dash != (c == '-') || (!dash && !strings.ContainsRune("0123456789abcdefABCDEF", c)) {
			return bad("not a uuid")
		}
	}
	if !ValidName(clusterID) {
		return bad("cluster ID has characters this driver cannot use")
	}
	return CephCSI{ClusterID: clusterID, LocationID: loc, UUID: uuid}, nil
}

// Encode returns the ceph-csi handle.
func (h CephCSI) Encode() string {
	return fmt.Sprintf("0001-%04x-%s-%016x-%s", len(h.ClusterID), h.ClusterID, h.LocationID, h.UUID)
}
