package locks

import (
	"errors"
	"testing"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

func TestAcquire(t *testing.T) {
	t.Parallel()
	l := New()
	release, err := l.Acquire("a", "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire("b", "c"); !errors.Is(err, contract.ErrBusy) {
		t.Fatalf("second acquire error = %v", err)
	}
	// A refused Acquire must not have taken "c".
	relC, err := l.Acquire("c")
	if err != nil {
		t.Fatalf("c was left held: %v", err)
	}
	relC()
	release()
	if rel, err := l.Acquire("a"); err != nil {
		t.Fatalf("after release: %v", err)
	} else {
		rel()
	}
}
