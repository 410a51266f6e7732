package ceph

import (
	"context"
	"errors"
	"strings"

	"github.com/ceph/go-ceph/rados"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// A claim is a small RADOS object, claim/<group>/<subvolume> in the
// filesystem's metadata pool (namespace cephfs-csi, beside the snapshot
// records), that the controller creates before it makes a subvolume and
// removes after it removed it. Creating one is a single exclusive create on
// an OSD, so "no claim" answers in one RADOS round trip what a failing
// `fs subvolume info` answers in one mgr command: no subvolume of that name
// was made by the driver. One object per subvolume keeps concurrent
// creates on different placement groups.
const claimPrefix = "claim/"

// claimObject names the claim of a subvolume. Group and subvolume names
// hold no '/', so the name is unambiguous.
func claimObject(group, name string) string { return claimPrefix + group + "/" + name }

// ClaimSubvolume creates the claim of subvolume group/name of filesystem
// fsName, holding value, unless it exists. It reports whether this call
// created it.
func (a *Admin) ClaimSubvolume(ctx context.Context, fsName, group, name string, value []byte) (bool, error) {
	obj := claimObject(group, name)
	_, err := inMetadataPool(ctx, a, "claim_create", "claim subvolume "+group+"/"+name, fsName, recordNamespace, func(ioctx *rados.IOContext) (struct{}, error) {
		op := rados.CreateWriteOp()
		defer op.Release()
		op.Create(rados.CreateExclusive)
		op.WriteFull(value)
		return struct{}{}, opError(op.Operate(ioctx, obj, rados.OperationNoFlag))
	})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, contract.ErrAlreadyExists):
		return false, nil
	default:
		return false, err
	}
}

// DropSubvolumeClaim removes the claim of subvolume group/name; a missing
// one is not an error.
func (a *Admin) DropSubvolumeClaim(ctx context.Context, fsName, group, name string) error {
	obj := claimObject(group, name)
	_, err := inMetadataPool(ctx, a, "claim_remove", "remove the claim of subvolume "+group+"/"+name, fsName, recordNamespace, func(ioctx *rados.IOContext) (struct{}, error) {
		return struct{}{}, ioctx.Delete(obj)
	})
	if errors.Is(err, contract.ErrNotFound) {
		return nil
	}
	return err
}

// opError returns the errno-carrying error inside go-ceph's OperationError,
// which does not unwrap, so that classify sees EEXIST and ENOENT.
func opError(err error) error {
	var oe rados.OperationError
	if errors.As(err, &oe) && oe.OpError != nil {
		return oe.OpError
	}
	return err
}

// Claim names a claimed subvolume.
type Claim struct{ Group, Subvolume string }

// ListClaims returns the claims of filesystem fsName: every subvolume the
// driver made there and has not removed. One object listing of the
// driver's namespace in the metadata pool (it holds the claims, the
// snapshot records and the references only), no mgr command.
func (a *Admin) ListClaims(ctx context.Context, fsName string) ([]Claim, error) {
	return inMetadataPool(ctx, a, "claim_list", "list the claims", fsName, recordNamespace, func(ioctx *rados.IOContext) ([]Claim, error) {
		iter, err := ioctx.Iter()
		if err != nil {
			return nil, err
		}
		defer iter.Close()
		var out []Claim
		for iter.Next() {
			rest, ok := strings.CutPrefix(iter.Value(), claimPrefix)
			if !ok {
				continue
			}
			if group, name, ok := strings.Cut(rest, "/"); ok {
				out = append(out, Claim{Group: group, Subvolume: name})
			}
		}
		return out, iter.Err()
	})
}

// SubvolumeClaimed reports whether subvolume group/name of filesystem
// fsName has a claim: whether the driver made it and has not removed it.
func (a *Admin) SubvolumeClaimed(ctx context.Context, fsName, group, name string) (bool, error) {
	obj := claimObject(group, name)
	_, err := inMetadataPool(ctx, a, "claim_stat", "look up the claim of subvolume "+group+"/"+name, fsName, recordNamespace, func(ioctx *rados.IOContext) (struct{}, error) {
		_, err := ioctx.Stat(obj)
		return struct{}{}, err
	})
	if errors.Is(err, contract.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
