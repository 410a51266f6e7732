// Package seed tests the driver against a cluster shaped like the seed's own
// Ceph (`hack/cluster.sh up DIR --profile seed`): three BlueStore OSDs, an EC
// 2+1 data pool in the filesystem, a standby-replay MDS and a standby mgr.
// `make test-seed` boots it in _build/cluster-seed and names it in
// CEPHFS_CSI_SEED_CLUSTER; without that variable every test skips.
//
// A package of its own rather than a build tag on tests/integration: its
// tests fail MDS and mgr daemons over and kill OSDs, which must never happen
// under the integration suite's tests, and `go test ./...` (make integration)
// compiles and skips it without a flag.
package seed
