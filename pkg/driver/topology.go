package driver

// TopologyKey is the key of the topology segment every node plugin of the
// driver reports (value "true"): the kubelet labels its node with it, so
// that CSIStorageCapacity objects select the nodes where the driver runs
// (pkg/node's NodeGetInfo says why there is a segment at all). The driver
// name is a DNS name of at most 63 characters (the CSI spec), so the key is
// a valid label key: a DNS subdomain prefix, a short name.
func TopologyKey(driverName string) string {
	return "topology." + driverName + "/node-plugin"
}
