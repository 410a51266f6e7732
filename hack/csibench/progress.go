package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Progress shows on stderr what the run is doing: one line rewritten in
// place on a terminal, one line per phase elsewhere (make's output, a log).
type Progress struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	phase    string
	last     time.Time
	start    time.Time
}

func newProgress(w io.Writer, fd int) *Progress {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return &Progress{w: w, terminal: err == nil, start: time.Now()}
}

// Phase starts a phase of total operations.
func (p *Progress) Phase(name string, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase = name
	count := ""
	if total > 0 {
		count = fmt.Sprintf(" (%d)", total)
	}
	if p.terminal {
		fmt.Fprintf(p.w, "\r\033[K[%s] %s%s", p.elapsed(), name, count)
		return
	}
	fmt.Fprintf(p.w, "[%s] %s%s\n", p.elapsed(), name, count)
}

// Step reports done of total operations of the current phase, at most ten
// times a second.
func (p *Progress) Step(done, total int) {
	if !p.terminal {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if done < total && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "\r\033[K[%s] %s %d/%d", p.elapsed(), p.phase, done, total)
}

// Done ends the progress line.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminal {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func (p *Progress) elapsed() string {
	return time.Since(p.start).Round(time.Second).String()
}
