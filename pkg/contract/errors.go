package contract

import (
	"errors"
	"fmt"
)

// Sentinel errors. Code below the RPC handlers wraps one of these with
// context (fmt.Errorf("subvolume %s: %w", name, contract.ErrNotFound)); the
// gRPC server maps them to status codes (pkg/server).
var (
	ErrInvalid            = errors.New("invalid argument")
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrOutOfRange         = errors.New("out of range")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrBusy               = errors.New("an operation on this object is already in progress")
	ErrUnavailable        = errors.New("unavailable")
	ErrPermission         = errors.New("permission denied")
	// ErrBadToken is a list's starting token that names no position: CSI
	// answers it with Aborted, so the caller restarts the listing.
	ErrBadToken = errors.New("invalid starting token")
)

// classified is an error whose message is exactly what the caller wrote,
// while errors.Is still finds its sentinel: the message a user sees stays
// free of the sentinel's generic words.
type classified struct {
	sentinel error
	err      error
}

func (e *classified) Error() string   { return e.err.Error() }
func (e *classified) Unwrap() []error { return []error{e.sentinel, e.err} }

// Errorf formats a message (%w allowed) and classifies it as sentinel.
func Errorf(sentinel error, format string, args ...any) error {
	return &classified{sentinel: sentinel, err: fmt.Errorf(format, args...)}
}

// Invalid is Errorf(ErrInvalid, ...): the request itself is wrong.
func Invalid(format string, args ...any) error {
	return Errorf(ErrInvalid, format, args...)
}
