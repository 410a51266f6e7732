package seed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pgBin is where Debian's postgresql-15 package (hack/install-deps.sh)
// installs the server and its tools.
const pgBin = "/usr/lib/postgresql/15/bin"

// TestMDSFailoverPostgres: the seed's own workload through an MDS failover.
// PostgreSQL 15 keeps its data directory on a published volume (ceph-fuse,
// fsync on); pgbench runs TPC-B for 30 s and the active MDS fails 8 s in,
// with a checkpoint. The standby-replay daemon takes over; no transaction
// fails, every committed transaction is in pgbench_history, the TPC-B
// balances agree, and after an immediate shutdown (a crash: no checkpoint,
// WAL replayed on start) the server starts on the same directory with the
// same counts. Takeover, pause, checkpoint times and tps are logged, not
// asserted.
func TestMDSFailoverPostgres(t *testing.T) {
	if _, err := os.Stat(filepath.Join(pgBin, "postgres")); err != nil {
		t.Skipf("PostgreSQL 15 is not installed (%v): the postgresql-15 package provides %s", err, pgBin)
	}
	c := getSeed(t)
	drv := c.StartDriver(t, nil)
	waitFor(t, "an active MDS and a standby-replay one", func() bool {
		return mdsIn(t, c, "active") != "" && mdsIn(t, c, "standby-replay") != ""
	})

	vol := createVolume(t, drv, c, "postgres", c.Params(), nil)
	dir := c.MountVolume(t, drv, vol)
	// Registered after MountVolume: the server stops before the unmount.
	pg := newPGServer(t, filepath.Join(dir, "pgdata"))
	pg.initdb(t)
	pg.start(t)

	const scale, accounts = 2, 200000
	initStart := time.Now()
	pg.run(t, 5*time.Minute, "pgbench", "-i", "-s", strconv.Itoa(scale), "postgres")
	initTook := time.Since(initStart)
	if _, err := pg.checkpoint(); err != nil { // what the load left dirty, not to weigh on the run's first
		t.Fatalf("checkpoint after pgbench -i: %v", err)
	}

	bench := pg.startBench(t, "-c", "4", "-j", "2", "-T", "30", "-P", "1", "postgres")
	// pgbench's commits are fdatasyncs (wal_sync_method) of a preallocated
	// WAL segment: data only, which ceph-fuse completes with the OSDs
	// alone. A checkpoint fsyncs the tables' files, which flushes their
	// metadata (mtime, size) to the MDS too: one before the fail for
	// comparison, one started with the fail, which waits for the takeover.
	bench.waitProgress(t, 6)
	calm, err := pg.checkpoint()
	if err != nil {
		t.Fatalf("checkpoint before the failover: %v", err)
	}
	bench.waitProgress(t, 8)
	active := mdsIn(t, c, "active")
	failedAt := time.Now()
	c.Ceph(t, "mds", "fail", active)
	type result struct {
		took time.Duration
		err  error
	}
	checkpoint := make(chan result, 1)
	go func() {
		took, err := pg.checkpoint()
		checkpoint <- result{took, err}
	}()
	waitFor(t, "another MDS to become active", func() bool {
		now := mdsIn(t, c, "active")
		return now != "" && now != active
	})
	takeover := time.Since(failedAt)
	failover := <-checkpoint
	if failover.err != nil {
		t.Errorf("checkpoint during the failover: %v", failover.err)
	}
	out, err := bench.wait()
	if err != nil {
		t.Fatalf("pgbench: %v\n%s\n%s", err, out, bench.log.text())
	}
	processed := reInt(t, out, `number of transactions actually processed: (\d+)`)
	failed := reInt(t, out, `number of failed transactions: (\d+)`)
	if failed != 0 {
		t.Errorf("pgbench: %d failed transactions\n%s", failed, out)
	}
	tps, err := strconv.ParseFloat(reMatch(t, out, `tps = ([0-9.]+) \(without initial connection time\)`), 64)
	if err != nil {
		t.Fatal(err)
	}
	benchStart := bench.log.start()
	pause := bench.log.pause(failedAt.Sub(benchStart))

	counts := func(when string) string {
		t.Helper()
		if got := pg.queryInt(t, "select count(*) from pgbench_accounts"); got != accounts {
			t.Errorf("%s: %d rows in pgbench_accounts, want %d", when, got, accounts)
		}
		history := pg.queryInt(t, "select count(*) from pgbench_history")
		if history != processed {
			t.Errorf("%s: %d rows in pgbench_history, pgbench processed %d transactions", when, history, processed)
		}
		// TPC-B: every transaction adds the same delta to an account, its
		// teller and its branch, and records it in the history.
		sums := pg.query(t, "select (select sum(abalance) from pgbench_accounts), (select sum(tbalance) from pgbench_tellers), "+
			"(select sum(bbalance) from pgbench_branches), (select coalesce(sum(delta), 0) from pgbench_history)")
		if f := strings.Split(sums, "|"); len(f) != 4 || f[0] != f[1] || f[1] != f[2] || f[2] != f[3] {
			t.Errorf("%s: the sums of account, teller, branch balances and history deltas differ: %s", when, sums)
		}
		return fmt.Sprintf("%d accounts, %d history rows", accounts, history)
	}
	before := counts("after the failover")

	// Crash consistency of what was synced: an immediate shutdown leaves
	// the last checkpoint and the WAL; the next start replays it.
	pg.stop(t, "immediate")
	pg.start(t)
	if !strings.Contains(pg.serverLog(), "database system was not properly shut down; automatic recovery in progress") {
		t.Errorf("no crash recovery after an immediate shutdown:\n%s", lastLines(pg.serverLog(), 20))
	}
	after := counts("after an immediate shutdown and a restart")

	t.Logf("PostgreSQL through an MDS failover: pgbench -i -s %d in %v; %s failed %v into the run, %s active %v later; "+
		"pause: %s; a checkpoint took %v before the fail, %v started with it; %d transactions, %d failed, %.1f tps; "+
		"%s; after an immediate shutdown (WAL replayed) and a restart: %s",
		scale, initTook.Round(time.Millisecond), active, failedAt.Sub(benchStart).Round(100*time.Millisecond),
		mdsIn(t, c, "active"), takeover.Round(time.Millisecond), pause,
		calm.Round(time.Millisecond), failover.took.Round(time.Millisecond), processed, failed, tps, before, after)

	// The failed daemon comes back as the standby the next test needs.
	waitFor(t, "a standby-replay MDS again", func() bool { return mdsIn(t, c, "standby-replay") != "" })
}

// pgServer is a PostgreSQL server run as the postgres user (it refuses to
// run as root) on a data directory, reachable only on a Unix socket.
type pgServer struct {
	cred   *syscall.Credential
	data   string // the data directory
	socket string // the directory of its Unix socket
	log    string // the server's standard output and error

	cmd    *exec.Cmd     // the postmaster, while started
	exited chan struct{} // closed when it has exited
}

// newPGServer prepares data (created, owned by postgres, mode 0700) and a
// socket directory, and stops the server when the test ends, whatever
// state the test left it in.
func newPGServer(t *testing.T, data string) *pgServer {
	t.Helper()
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("the postgres user (the postgresql-15 package creates it): %v", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("user postgres: %v", err)
	}
	s := &pgServer{
		cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)},
		data: data, socket: t.TempDir(), log: filepath.Join(t.TempDir(), "postgres.log"),
	}
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{data, s.socket} {
		if err := os.Chown(d, int(uid), int(gid)); err != nil {
			t.Fatal(err)
		}
	}
	// t.TempDir's directories are the test's own and root's alone (0700):
	// postgres must pass through them to the socket and the data.
	root := filepath.Dir(s.socket)
	for _, d := range []string{filepath.Dir(data), s.socket} {
		for ; strings.HasPrefix(d, root); d = filepath.Dir(d) {
			letTraverse(t, d)
		}
	}
	t.Cleanup(func() {
		if s.cmd != nil {
			s.stop(t, "fast")
		}
		if t.Failed() {
			t.Logf("PostgreSQL's log:\n%s", lastLines(s.serverLog(), 40))
		}
	})
	return s
}

// letTraverse adds search permission for others to a directory that lacks it.
func letTraverse(t *testing.T, dir string) {
	t.Helper()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o001 == 0 {
		if err := os.Chmod(dir, fi.Mode().Perm()|0o011); err != nil {
			t.Fatal(err)
		}
	}
}

// command is one of PostgreSQL's programs run as postgres, talking to the
// server's socket.
func (s *pgServer) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(pgBin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	cmd.Dir = s.socket
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "HOME=" + s.socket, "PGHOST=" + s.socket}
	return cmd
}

// run runs a program to its end, within timeout, and returns its output.
func (s *pgServer) run(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := s.command(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (s *pgServer) initdb(t *testing.T) {
	t.Helper()
	s.run(t, 5*time.Minute, "initdb", "-D", s.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C")
	conf := fmt.Sprintf(`
# TestMDSFailoverPostgres: no TCP at all, a small buffer cache, fsync on.
listen_addresses = ''
unix_socket_directories = '%s'
shared_buffers = 16MB
max_connections = 20
fsync = on
`, s.socket)
	f, err := os.OpenFile(filepath.Join(s.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(conf); err != nil {
		t.Fatal(err)
	}
}

// start starts the postmaster and waits until it accepts connections.
func (s *pgServer) start(t *testing.T) {
	t.Helper()
	logFile, err := os.OpenFile(s.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := s.command(context.Background(), "postgres", "-D", s.data)
	cmd.SysProcAttr.Setpgid = true
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited

	deadline := time.Now().Add(2 * time.Minute) // crash recovery included
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := s.command(ctx, "pg_isready", "-q", "-d", "postgres").Run()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-exited:
			s.cmd = nil
			t.Fatalf("postgres exited while starting: %v\n%s", cmd.ProcessState, lastLines(s.serverLog(), 20))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres not accepting connections after 2 minutes\n%s", lastLines(s.serverLog(), 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop shuts the server down with pg_ctl's mode (fast, immediate) and
// waits for the postmaster to exit; should that fail, it kills the
// postmaster and its children (each backend is a session of its own, out
// of the postmaster's process group).
func (s *pgServer) stop(t *testing.T, mode string) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	defer func() { s.cmd = nil }()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	out, err := s.command(ctx, "pg_ctl", "stop", "-D", s.data, "-m", mode, "-t", "60").CombinedOutput()
	cancel()
	select {
	case <-s.exited:
		if err != nil {
			t.Errorf("pg_ctl stop -m %s: %v\n%s", mode, err, out)
		}
		return
	case <-time.After(30 * time.Second):
	}
	t.Errorf("pg_ctl stop -m %s: the postmaster has not exited (%v)\n%s", mode, err, out)
	pid := s.cmd.Process.Pid
	victims := append(childrenOf(pid), pid)
	for _, p := range victims {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Errorf("postgres (pid %d) survives SIGKILL", pid)
	}
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	var kids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			kids = append(kids, p)
		}
	}
	return kids
}

func (s *pgServer) serverLog() string {
	out, _ := os.ReadFile(s.log)
	return string(out)
}

// checkpoint runs CHECKPOINT and returns how long it took.
func (s *pgServer) checkpoint() (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := s.command(ctx, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", "checkpoint").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%w: %s", err, out)
	}
	return time.Since(start), nil
}

// query runs one statement with psql and returns its unaligned result.
func (s *pgServer) query(t *testing.T, sql string) string {
	t.Helper()
	return strings.TrimSpace(s.run(t, 2*time.Minute, "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", sql))
}

func (s *pgServer) queryInt(t *testing.T, sql string) int {
	t.Helper()
	out := s.query(t, sql)
	n, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("%s: %q is no number", sql, out)
	}
	return n
}

// pgbench is a run of pgbench in the background.
type pgbench struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	log    *progressLog // its standard error, progress lines timed
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// startBench starts pgbench; the test's end kills it should it still run.
func (s *pgServer) startBench(t *testing.T, args ...string) *pgbench {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b := &pgbench{log: &progressLog{}, cancel: cancel, done: make(chan struct{})}
	b.cmd = s.command(ctx, "pgbench", args...)
	b.cmd.Stdout, b.cmd.Stderr = &b.stdout, b.log
	if err := b.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("pgbench: %v", err)
	}
	go func() { b.err = b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() { cancel(); <-b.done })
	return b
}

// waitProgress waits for pgbench to report sec seconds of its run.
func (b *pgbench) waitProgress(t *testing.T, sec float64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("pgbench %v s into its run", sec), func() bool {
		select {
		case <-b.done:
			t.Fatalf("pgbench ended early: %v\n%s\n%s", b.err, b.stdout.String(), b.log.text())
		default:
		}
		return b.log.last() >= sec
	})
}

// wait waits for pgbench to end and returns its standard output.
func (b *pgbench) wait() (string, error) {
	<-b.done
	b.cancel()
	return b.stdout.String(), b.err
}

// progressLog is pgbench's standard error: what it says, and its progress
// lines (-P) with the time each arrived.
type progressLog struct {
	mu      sync.Mutex
	all     strings.Builder
	partial []byte
	lines   []progressLine
}

type progressLine struct {
	at  time.Time // when it arrived
	sec float64   // pgbench's time into the run
	tps float64
}

// "progress: 9.0 s, 0.0 tps, lat 0.000 ms stddev 0.000, 0 failed"
var progressRE = regexp.MustCompile(`^progress: ([0-9.]+) s, ([0-9.]+) tps`)

func (p *progressLog) Write(b []byte) (int, error) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.all.Write(b)
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		line := string(p.partial[:i])
		p.partial = p.partial[i+1:]
		if m := progressRE.FindStringSubmatch(line); m != nil {
			sec, _ := strconv.ParseFloat(m[1], 64)
			tps, _ := strconv.ParseFloat(m[2], 64)
			p.lines = append(p.lines, progressLine{at: now, sec: sec, tps: tps})
		}
	}
	return len(b), nil
}

func (p *progressLog) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.all.String()
}

// last is the time into the run of the last progress line, or 0.
func (p *progressLog) last() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.lines) == 0 {
		return 0
	}
	return p.lines[len(p.lines)-1].sec
}

// start is when the run began, by the first progress line (zero time
// without one).
func (p *progressLog) start() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.startLocked()
}

func (p *progressLog) startLocked() time.Time {
	if len(p.lines) == 0 {
		return time.Time{}
	}
	l := p.lines[0]
	return l.at.Add(-time.Duration(l.sec * float64(time.Second)))
}

// pause describes the stall: the longest run of consecutive progress
// lines at 0 tps (from the end of the last interval with transactions to
// the end of the last one without, by pgbench's clock), the lowest tps of
// a line after the fail (failed into the run), and the longest wait
// between two progress lines (pgbench's thread 0 writes them while its
// clients wait, so a long one is pgbench itself stalled).
func (p *progressLog) pause(failed time.Duration) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	seconds := func(s float64) time.Duration {
		return time.Duration(s * float64(time.Second)).Round(100 * time.Millisecond)
	}
	var zero, zeroEnd, gap time.Duration
	var gapEnd time.Time
	runStart := -1.0 // pgbench's time when the current run at 0 tps began, or -1
	prevSec := 0.0
	lowest, lowestAt := -1.0, 0.0
	for i, l := range p.lines {
		if l.tps == 0 {
			if runStart < 0 {
				runStart = prevSec
			}
			if d := seconds(l.sec - runStart); d > zero {
				zero, zeroEnd = d, seconds(l.sec)
			}
		} else {
			runStart = -1
		}
		prevSec = l.sec
		if seconds(l.sec) > failed && (lowest < 0 || l.tps < lowest) {
			lowest, lowestAt = l.tps, l.sec
		}
		if i > 0 {
			if d := l.at.Sub(p.lines[i-1].at); d > gap {
				gap, gapEnd = d, l.at
			}
		}
	}
	var b strings.Builder
	if zero > 0 {
		fmt.Fprintf(&b, "%v at 0 tps (until %v into the run)", zero, zeroEnd)
	} else {
		b.WriteString("no second at 0 tps")
	}
	if lowest >= 0 {
		fmt.Fprintf(&b, ", lowest after the fail %.1f tps (the second to %v)", lowest, seconds(lowestAt))
	}
	if len(p.lines) > 1 {
		fmt.Fprintf(&b, ", longest gap between progress lines %v (ended %v into the run)",
			gap.Round(time.Millisecond), gapEnd.Sub(p.startLocked()).Round(100*time.Millisecond))
	}
	return b.String()
}

// reMatch is the first group of re in out.
func reMatch(t *testing.T, out, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in:\n%s", re, out)
	}
	return m[1]
}

func reInt(t *testing.T, out, re string) int {
	t.Helper()
	n, err := strconv.Atoi(reMatch(t, out, re))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// lastLines is the end of text, n lines at most.
func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
