package contract

// Mounter names, as the "mounter" StorageClass parameter, the volume context
// and the node's --default-mounter take them. MounterAuto is the node's own
// choice: the kernel client where the kernel has one, else ceph-fuse.
const (
	MounterFuse   = "fuse"
	MounterKernel = "kernel"
	MounterAuto   = "auto"
)

// CheckMounter accepts what a volume may ask for: nothing (the node
// decides), fuse or kernel.
func CheckMounter(name string) error {
	switch name {
	case "", MounterFuse, MounterKernel:
		return nil
	}
	return Invalid("mounter %q: want %q or %q", name, MounterFuse, MounterKernel)
}
