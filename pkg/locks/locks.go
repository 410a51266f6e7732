// Package locks serialises operations on one object (a volume name, a volume
// ID, a target path): a second caller does not wait, it is told to retry.
package locks

import (
	"fmt"
	"sync"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// InFlight is a set of keys with an operation in progress.
type InFlight struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

// New returns an empty set.
func New() *InFlight {
	return &InFlight{keys: make(map[string]struct{})}
}

// Acquire claims every key, or none: if any key is held it returns an error
// wrapping contract.ErrBusy. The returned function releases the keys.
func (l *InFlight) Acquire(keys ...string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if _, held := l.keys[k]; held {
			return nil, fmt.Errorf("%q: %w", k, contract.ErrBusy)
		}
	}
	for _, k := range keys {
		l.keys[k] = struct{}{}
	}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, k := range keys {
			delete(l.keys, k)
		}
	}, nil
}
