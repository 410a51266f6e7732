// Package mountholder keeps ceph-fuse mounts alive across restarts of the
// node plugin: the mount holder, a process of its own (its own DaemonSet,
// updated only on delete), runs ceph-fuse for the node plugin, which asks
// it over a unix socket. Everything else about a mount — unmounting,
// checking it, its stats — stays with the node plugin, which reads the
// mount table. docs/design.md ("the mount holder") has the why.
package mountholder

import "time"

// Paths of the holder's HTTP API on its unix socket.
const (
	mountsPath = "/v1/mounts"
	// requestsPath lists the requests behind the running mounts, keys
	// included: what a restarted node plugin needs to mount one again
	// once its ceph-fuse died (a deleted holder pod). Only root on the
	// node reaches the socket, the same principal that sent them.
	requestsPath = "/v1/requests"
)

// MountRequest asks the holder to mount a path of a CephFS filesystem at
// Target with ceph-fuse. It carries what the node plugin would have run
// ceph-fuse with, as data: the holder builds the command itself.
type MountRequest struct {
	Target string `json:"target"`
	// VolumeID is kept, not used: it tells a restarted node plugin which
	// volume a mount is.
	VolumeID string   `json:"volumeID,omitempty"`
	Monitors []string `json:"monitors"`
	FSName   string   `json:"fsName"`
	Path     string   `json:"path"`
	ClientID string   `json:"clientID"`
	// Key is the CephX key: only ever in this body, on a root-only local
	// socket, and in a 0600 keyring on tmpfs while ceph-fuse starts.
	Key     string   `json:"key"`
	Options []string `json:"options,omitempty"`
	// TimeoutSeconds bounds the mount; the holder's own bound applies
	// when it is 0 or larger.
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
}

// Mount is one ceph-fuse the holder runs.
type Mount struct {
	Target string    `json:"target"`
	PID    int       `json:"pid"`
	Since  time.Time `json:"since"`
}

// errorBody is the answer to a request that failed.
type errorBody struct {
	Error string `json:"error"`
}
