// The reader of hack/cluster.sh's cluster descriptor, in a module of its own
// with no requirements so that both the driver's module and tests/e2e (whose
// go.sum keys the cache of its 8-minute tool builds) can use it without
// depending on each other.
module github.com/cephfs-csi/cephfs-csi/tests/clusterdesc

go 1.26.0
