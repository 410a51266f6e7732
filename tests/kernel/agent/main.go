// Command agent runs inside the kernel e2e test's virtual machine, beside
// the driver's node service, and lets the test on the host act as a pod on
// that node would: run a command (write into a published volume, df, read
// /proc/mounts) and look for a secret where it must not be (process
// arguments and environments, files below given directories). It speaks
// JSON over HTTP on the guest's private address; the network it listens on
// exists only inside the test's network namespace.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ExecRequest is a command to run, with its deadline in seconds (default 60).
type ExecRequest struct {
	Args    []string `json:"args"`
	Timeout int      `json:"timeout"`
}

// ExecResult is how the command ended; Code is -1 when it could not start
// or was killed at its deadline.
type ExecResult struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Code   int    `json:"code"`
}

// ScanRequest names a secret and the directories whose files must not hold it.
type ScanRequest struct {
	Needle string   `json:"needle"`
	Dirs   []string `json:"dirs"`
}

// ScanResult lists where the secret was found.
type ScanResult struct {
	Found []string `json:"found"`
}

func main() {
	listen := flag.String("listen", "", "address to serve on (host:port)")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /exec", handle(run))
	mux.HandleFunc("POST /scan", handle(scan))
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("agent: serving on %s", *listen)
	log.Fatal(srv.ListenAndServe())
}

// handle decodes a Req, calls fn and encodes its answer.
func handle[Req, Resp any](fn func(context.Context, Req) Resp) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(fn(r.Context(), req))
	}
}

func run(ctx context.Context, req ExecRequest) ExecResult {
	if len(req.Args) == 0 {
		return ExecResult{Stderr: "no command", Code: -1}
	}
	timeout := time.Duration(req.Timeout) * time.Second
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, req.Args[0], req.Args[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := ExecResult{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		res.Code = exit.ExitCode()
	default:
		res.Code = -1
		res.Stderr += err.Error()
	}
	return res
}

// scan looks for the needle in every process's arguments and environment
// (but this agent's own, which holds the request) and in the files below
// the directories.
func scan(_ context.Context, req ScanRequest) ScanResult {
	var res ScanResult
	if req.Needle == "" {
		return res
	}
	needle := []byte(req.Needle)
	self := "/proc/" + strings.TrimPrefix(filepath.Base(mustReadlink("/proc/self")), "/")
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if p == self {
			continue
		}
		for _, f := range []string{"cmdline", "environ"} {
			if data, err := os.ReadFile(filepath.Join(p, f)); err == nil && bytes.Contains(data, needle) {
				res.Found = append(res.Found, filepath.Join(p, f))
			}
		}
	}
	for _, dir := range req.Dirs {
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			if data, err := os.ReadFile(path); err == nil && bytes.Contains(data, needle) {
				res.Found = append(res.Found, path)
			}
			return nil
		})
	}
	return res
}

func mustReadlink(path string) string {
	s, err := os.Readlink(path)
	if err != nil {
		return ""
	}
	return s
}
