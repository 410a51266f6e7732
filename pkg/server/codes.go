package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// codeOf is the one table from the driver's sentinel errors to gRPC codes.
// The interceptor applies it to every answer, so no code below the RPC
// handlers speaks gRPC.
var codeOf = []struct {
	err  error
	code codes.Code
}{
	{contract.ErrInvalid, codes.InvalidArgument},
	{contract.ErrNotFound, codes.NotFound},
	{contract.ErrAlreadyExists, codes.AlreadyExists},
	{contract.ErrOutOfRange, codes.OutOfRange},
	{contract.ErrFailedPrecondition, codes.FailedPrecondition},
	{contract.ErrBusy, codes.Aborted},
	{contract.ErrBadToken, codes.Aborted},
	{contract.ErrUnavailable, codes.Unavailable},
	{contract.ErrPermission, codes.PermissionDenied},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
}

// Code returns the gRPC code for err: a status error keeps its own code, a
// wrapped sentinel gives its code, anything else is Internal.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	for _, c := range codeOf {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return codes.Internal
}

// ToStatus converts err into a gRPC status error with the matching code and
// err's full message. It returns nil for nil.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(Code(err), err.Error())
}
