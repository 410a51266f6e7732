package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// undoTimeout bounds each step of the cleanup, which runs on a context of its
// own: the run's may be canceled already (an interrupt).
const undoTimeout = 2 * time.Minute

// Undo holds what the run created and has not removed yet. A step is added
// before the call that creates something (a call cut short may still have
// created it), and dropped once the run has removed it itself; Run
// undoes what is left, newest first.
type Undo struct {
	mu    sync.Mutex
	next  int
	steps map[int]undoStep
}

type undoStep struct {
	what string
	fn   func(context.Context) error
}

// Step is one pending cleanup.
type Step struct {
	u  *Undo
	id int
}

// Add records how to undo what is about to be created.
func (u *Undo) Add(what string, fn func(context.Context) error) Step {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.steps == nil {
		u.steps = map[int]undoStep{}
	}
	u.next++
	u.steps[u.next] = undoStep{what, fn}
	return Step{u, u.next}
}

// Done forgets the step: the run removed the thing itself.
func (s Step) Done() {
	s.u.mu.Lock()
	defer s.u.mu.Unlock()
	delete(s.u.steps, s.id)
}

// Pending is how many steps are left.
func (u *Undo) Pending() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.steps)
}

// Run undoes every pending step, newest first, and keeps going past
// failures; it returns them all. progress is told of each step.
func (u *Undo) Run(progress func(done, total int)) error {
	u.mu.Lock()
	ids := slices.Sorted(maps.Keys(u.steps))
	steps := u.steps
	u.steps = nil
	u.mu.Unlock()
	var errs []error
	for i, id := range slices.Backward(ids) {
		s := steps[id]
		ctx, cancel := context.WithTimeout(context.Background(), undoTimeout)
		if err := s.fn(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.what, err))
		}
		cancel()
		if progress != nil {
			progress(len(ids)-i, len(ids))
		}
	}
	return errors.Join(errs...)
}
