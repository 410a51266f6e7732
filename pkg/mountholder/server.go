package mountholder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"
	mount "k8s.io/mount-utils"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/mounter"
	"github.com/cephfs-csi/cephfs-csi/pkg/mountopts"
)

// Server runs ceph-fuse for the node plugin and keeps the processes.
type Server struct {
	// Root: only targets below it are mounted (the kubelet's directory).
	Root string
	// KeyDir holds each keyring while its ceph-fuse starts (tmpfs).
	KeyDir string
	// Program is ceph-fuse (tests give another).
	Program string
	// MountTimeout bounds one mount when the request sets no shorter one.
	MountTimeout time.Duration
	// MountInfo is the mount table to watch (/proc/self/mountinfo).
	MountInfo string

	mu     sync.Mutex
	mounts map[string]*running // by target
}

// running is one ceph-fuse of the holder.
type running struct {
	Mount
	req    MountRequest // for requestsPath
	up     bool         // the mount was seen in the table (under Server.mu)
	output *tail
	done   chan struct{} // closed when the process has exited
}

// maxRequest bounds a request body.
const maxRequest = 1 << 20

// Handler serves the holder's API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+mountsPath, s.handleMount)
	mux.HandleFunc("GET "+mountsPath, s.handleList)
	mux.HandleFunc("GET "+requestsPath, s.handleRequests)
	return mux
}

// Serve answers on a unix socket at path (root only) until ctx ends. The
// ceph-fuse processes are left running when it returns: they are the point.
func (s *Server) Serve(ctx context.Context, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("mount holder socket directory: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the old socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("mount holder socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("mount holder socket %s: %w", path, err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	klog.InfoS("Mount holder serving", "socket", path, "root", s.Root)
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) handleList(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	list := make([]Mount, 0, len(s.mounts))
	for _, m := range s.mounts {
		list = append(list, m.Mount)
	}
	s.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].Target < list[j].Target })
	writeJSON(w, http.StatusOK, list)
}

// handleRequests answers with the request of each mount that is up.
func (s *Server) handleRequests(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	list := make([]MountRequest, 0, len(s.mounts))
	for _, m := range s.mounts {
		if m.up {
			list = append(list, m.req)
		}
	}
	s.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].Target < list[j].Target })
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) handleMount(w http.ResponseWriter, r *http.Request) {
	var req MountRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequest)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{"malformed mount request: " + err.Error()})
		return
	}
	if err := s.check(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
		return
	}
	timeout := s.MountTimeout
	if t := time.Duration(req.TimeoutSeconds) * time.Second; t > 0 && t < timeout {
		timeout = t
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	status, err := s.mount(ctx, req)
	if err != nil {
		writeJSON(w, status, errorBody{err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, struct{}{})
}

// check refuses what the holder must never do: mount outside its root, a
// target twice, options the node plugin would not pass.
func (s *Server) check(req *MountRequest) error {
	target := req.Target
	root := filepath.Clean(s.Root)
	// The node plugin sends paths in contract.CleanPath's form: anything
	// else did not come from it.
	if clean, err := contract.CleanPath("target", target); err != nil || clean != target {
		return fmt.Errorf("target %q: want a clean absolute path", target)
	}
	if clean, err := contract.CleanPath("path", req.Path); err != nil || clean != req.Path {
		return fmt.Errorf("path %q: want a clean absolute path in the filesystem", req.Path)
	}
	switch {
	case !strings.HasPrefix(target, root+"/"):
		return fmt.Errorf("target %q is not below the holder's root %s", target, root)
	case len(req.Monitors) == 0:
		return errors.New("no monitors")
	case req.FSName == "" || req.ClientID == "" || req.Key == "":
		return errors.New("fsName, clientID and key are required")
	}
	for _, m := range req.Monitors {
		if m == "" || strings.ContainsAny(m, ", \t\n") {
			return fmt.Errorf("monitor %q: want one address", m)
		}
	}
	if len(req.Options) > 0 {
		if err := mountopts.Validate(strings.Join(req.Options, ",")); err != nil {
			return fmt.Errorf("options: %w", err)
		}
	}
	return nil
}

// mount starts ceph-fuse in the foreground and waits until the target is a
// FUSE mount in the mount table, ceph-fuse ends, or ctx does.
func (s *Server) mount(ctx context.Context, req MountRequest) (int, error) {
	s.mu.Lock()
	if s.mounts == nil {
		s.mounts = map[string]*running{}
	}
	if _, busy := s.mounts[req.Target]; busy {
		s.mu.Unlock()
		return http.StatusConflict, fmt.Errorf("%s: a ceph-fuse of the holder already runs there", req.Target)
	}
	if mounted, _ := s.isFuseMount(req.Target); mounted {
		s.mu.Unlock()
		return http.StatusConflict, fmt.Errorf("%s is already mounted", req.Target)
	}
	m := &running{Mount: Mount{Target: req.Target, Since: time.Now()}, req: req, output: &tail{max: 4096}, done: make(chan struct{})}
	s.mounts[req.Target] = m // claimed: a second request for it is refused
	s.mu.Unlock()

	started := false
	defer func() {
		if !started {
			s.forget(m)
		}
	}()
	creds := contract.Credentials{ID: req.ClientID, Key: req.Key}
	keyring, remove, err := mounter.WriteKeyring(s.KeyDir, creds)
	if err != nil {
		return http.StatusInternalServerError, err
	}
	defer remove() // ceph-fuse has read it once the mount is up (or failed)
	mreq := mounter.Request{Monitors: req.Monitors, FSName: req.FSName, Path: req.Path, Creds: creds, Options: req.Options}
	args := append((&mounter.Fuse{}).Args(mreq, req.Target, keyring), "-f")
	// Not CommandContext: the process must outlive this request.
	cmd := exec.Command(s.program(), args...)
	cmd.Stdout, cmd.Stderr = m.output, m.output
	if err := cmd.Start(); err != nil {
		return http.StatusInternalServerError, fmt.Errorf("start %s: %w", s.program(), err)
	}
	started = true
	s.mu.Lock()
	m.PID = cmd.Process.Pid
	s.mu.Unlock()
	go s.reap(cmd, m)
	log := klog.FromContext(ctx).WithValues("target", req.Target, "pid", m.PID)
	log.V(4).Info("Started ceph-fuse", "path", req.Path, "fs", req.FSName)

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if ok, err := s.isFuseMount(req.Target); err != nil {
			log.Error(err, "Reading the mount table")
		} else if ok {
			s.mu.Lock()
			m.up = true
			s.mu.Unlock()
			log.Info("Mounted", "path", req.Path, "took", time.Since(m.Since).Round(time.Millisecond))
			return 0, nil
		}
		select {
		case <-m.done:
			return http.StatusBadGateway, fmt.Errorf("ceph-fuse %s on %s ended before the mount was up: %s", req.Path, req.Target, m.output)
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-m.done
			return http.StatusGatewayTimeout, fmt.Errorf("ceph-fuse %s on %s: not mounted after %v (killed): %s", req.Path, req.Target, time.Since(m.Since).Round(time.Second), m.output)
		case <-tick.C:
		}
	}
}

// reap waits for a ceph-fuse to end (an unmount ends it) and forgets it.
func (s *Server) reap(cmd *exec.Cmd, m *running) {
	err := cmd.Wait()
	s.forget(m) // before done: a request that saw it end must not find it listed
	close(m.done)
	klog.InfoS("ceph-fuse ended", "target", m.Target, "pid", m.PID, "status", fmt.Sprint(err), "output", m.output.String())
}

func (s *Server) forget(m *running) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mounts[m.Target] == m {
		delete(s.mounts, m.Target)
	}
}

func (s *Server) program() string {
	if s.Program != "" {
		return s.Program
	}
	return "ceph-fuse"
}

// isFuseMount reports whether target is a FUSE mount in the mount table.
func (s *Server) isFuseMount(target string) (bool, error) {
	table := s.MountInfo
	if table == "" {
		table = "/proc/self/mountinfo"
	}
	infos, err := mount.ParseMountInfo(table)
	if err != nil {
		return false, err
	}
	for _, i := range infos {
		if i.MountPoint == target && strings.HasPrefix(i.FsType, "fuse") {
			return true, nil
		}
	}
	return false, nil
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
