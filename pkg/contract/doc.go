// Package contract is what the driver's packages agree on without importing
// each other: the keys of the volume context the controller writes and the
// node reads, the mounter names, the CephX credentials carried by CSI
// secrets, and the sentinel errors that every layer wraps and only the gRPC
// server turns into status codes. It imports the standard library only, so
// the Ceph layer and the mounters stay free of gRPC and CSI types.
package contract
