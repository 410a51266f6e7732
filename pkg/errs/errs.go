// Package errs holds the driver's sentinel errors and the one place where they
// become gRPC status codes. Code below the RPC handlers wraps these sentinels
// with context (fmt.Errorf("...: %w", errs.ErrNotFound)); handlers return
// ToStatus(err).
package errs

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var (
	ErrInvalid            = errors.New("invalid argument")
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrOutOfRange         = errors.New("out of range")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrBusy               = errors.New("an operation on this object is already in progress")
	ErrUnavailable        = errors.New("unavailable")
	ErrPermission         = errors.New("permission denied")
)

var codeOf = []struct {
	err  error
	code codes.Code
}{
	{ErrInvalid, codes.InvalidArgument},
	{ErrNotFound, codes.NotFound},
	{ErrAlreadyExists, codes.AlreadyExists},
	{ErrOutOfRange, codes.OutOfRange},
	{ErrFailedPrecondition, codes.FailedPrecondition},
	{ErrBusy, codes.Aborted},
	{ErrUnavailable, codes.Unavailable},
	{ErrPermission, codes.PermissionDenied},
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

// Invalid is a shorthand for an InvalidArgument status with a message.
func Invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}
