package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// process is a program the test started. Its stdout and stderr go to
// <logs>/<name>.log, which is kept after the test.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited
	waitErr error         // valid once done is closed
}

// startProcess starts binary with args. The process gets its own process
// group, so that a Ctrl-C reaches only the test, which then stops everything
// in order; should the test itself die, the kernel kills the process.
func startProcess(logDir, name, binary string, args ...string) (*process, error) {
	return startProcessWithEnv(logDir, name, nil, binary, args...)
}

// startProcessWithEnv is startProcess with variables (NAME=value) added to
// the test's environment.
func startProcessWithEnv(logDir, name string, extraEnv []string, binary string, args ...string) (*process, error) {
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer logFile.Close() // the child has its own copy
	fmt.Fprintf(logFile, "# %s %q\n", binary, args)
	if len(extraEnv) > 0 {
		fmt.Fprintf(logFile, "# with %q\n", extraEnv)
	}

	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if len(extraEnv) > 0 {
		cmd.Env = append(os.Environ(), extraEnv...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exitError is nil while the process runs, and says how it ended otherwise.
func (p *process) exitError() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v); last lines of %s:\n%s", p.name, p.waitErr, p.logPath, tail(p.logPath, 20))
	default:
		return nil
	}
}

// stop sends SIGTERM, and SIGKILL when the process has not exited after grace.
func (p *process) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// lastErrors returns the last n error lines (klog's "E" lines) of a log.
func lastErrors(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	var errs []string
	for _, line := range strings.Split(string(data), "\n") {
		if len(line) > 5 && line[0] == 'E' && line[1] >= '0' && line[1] <= '9' {
			errs = append(errs, line)
		}
	}
	if len(errs) > n {
		errs = errs[len(errs)-n:]
	}
	return strings.Join(errs, "\n")
}

// forbidden matches the API server's RBAC refusals as clients log them.
var forbidden = regexp.MustCompile(`cannot (\w+) resource \\?"([^"\\]+)\\?" in API group \\?"([^"\\]*)\\?"`)

// rbacDenials returns the distinct requests ("verb resource.group") that
// the log shows RBAC refused.
func rbacDenials(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var denials []string
	for _, m := range forbidden.FindAllStringSubmatch(string(data), -1) {
		d := m[1] + " " + m[2] + "." + m[3]
		if !seen[d] {
			seen[d] = true
			denials = append(denials, d)
		}
	}
	return denials
}

// freePort returns a TCP port of 127.0.0.1 that nothing listens on. The
// kernel picks it from the ephemeral range (32768 and up), away from the
// ports of the embedded Ceph clusters (3300-3399, 6789, 6800-7300).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
