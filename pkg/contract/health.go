package contract

// Reasons of volume health entries (NodeGetVolumeHealth,
// ControllerGetVolumeHealth): CamelCase, stable, as the CSI spec asks, and
// the same word from either side for the same cause. The kubelet patches a
// pod's status only when the (status, reason) set changes, so the reason
// names the cause and the message carries the details.
const (
	// ReasonSubvolumeMissing: the subvolume was removed outside the driver
	// (its files are gone; only retained snapshots may be left).
	ReasonSubvolumeMissing = "SubvolumeMissing"
	// ReasonCloneFailed: a clone that failed or was canceled; its data is
	// incomplete.
	ReasonCloneFailed = "CloneFailed"
	// ReasonClientDisconnected: the node's CephFS client of the staging
	// mount is gone (ENOTCONN from a dead ceph-fuse, ESTALE, …).
	ReasonClientDisconnected = "ClientDisconnected"
	// ReasonClientNotResponding: the client did not answer a getattr in
	// time (a hung MDS session, a blocklisted client).
	ReasonClientNotResponding = "ClientNotResponding"
	// ReasonQuotaExceeded: the subvolume's quota is used up; writes fail
	// with EDQUOT.
	ReasonQuotaExceeded = "QuotaExceeded"
	// ReasonPoolFull: the data pool is full; writes fail with ENOSPC.
	ReasonPoolFull = "PoolFull"
)
