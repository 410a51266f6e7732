package ceph

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/ceph/go-ceph/cephfs/admin"
	"github.com/ceph/go-ceph/rados"
	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// Pool keeps one connection per (cluster, user, key) and closes connections
// that stayed unused for IdleTimeout. It also keeps, per cluster, the facts
// that rarely change (filesystems, pools, existing subvolume groups).
type Pool struct {
	// OpTimeout is librados' own bound on connecting (client_mount_timeout)
	// and on each RADOS object operation (rados_osd_op_timeout), the value
	// of --ceph-timeout. Mon and mgr commands are bounded by the caller's
	// context instead (see bounded).
	OpTimeout   time.Duration
	IdleTimeout time.Duration
	// Observer, when set, is told of every Ceph call.
	Observer Observer

	mu       sync.Mutex
	conns    map[string]*pooledConn
	clusters map[string]*clusterCache
	stop     chan struct{}
	stopOnce sync.Once
}

type pooledConn struct {
	conn     *rados.Conn
	slots    chan struct{} // calls in flight, abandoned ones included
	users    int
	lastUsed time.Time
	// key is the connection's entry in Pool.conns.
	key string
	// retired: replaced by a fresh connection and never handed out
	// again, so it is closed as soon as its last call returns rather than
	// after IdleTimeout (each librados client holds about a dozen threads
	// and 6 MiB).
	retired bool
}

// NewPool returns a pool and starts its idle-connection reaper.
func NewPool(opTimeout, idleTimeout time.Duration) *Pool {
	p := &Pool{
		OpTimeout:   opTimeout,
		IdleTimeout: idleTimeout,
		conns:       make(map[string]*pooledConn),
		clusters:    make(map[string]*clusterCache),
		stop:        make(chan struct{}),
	}
	go p.reap()
	return p
}

// Connect returns an admin handle on cluster for creds. Call Release on it
// when done.
func (p *Pool) Connect(ctx context.Context, cluster *config.Cluster, creds contract.Credentials) (*Admin, error) {
	if err := creds.Validate(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(creds.Key))
	key := fmt.Sprintf("%s\x00%s\x00%s\x00%x", cluster.ClusterID, cluster.MonHost(), creds.ID, sum)

	p.mu.Lock()
	pc, ok := p.conns[key]
	if ok && len(pc.slots) == cap(pc.slots) {
		// Every slot is held by a call the cluster has not answered;
		// a fresh connection may reach a monitor that answers.
		klog.FromContext(ctx).V(2).Info("Replacing a Ceph connection whose calls are all unanswered", "cluster", cluster.ClusterID)
		delete(p.conns, key)
		// Keep it where closeIdle finds it once its calls return.
		pc.key = fmt.Sprintf("%s\x00retired-%p", key, pc)
		pc.retired = true
		p.conns[pc.key] = pc
		ok = false
	}
	if ok {
		pc.users++
		pc.lastUsed = time.Now()
	}
	p.mu.Unlock()

	if !ok {
		conn, err := p.dial(ctx, cluster, creds)
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		if existing, raced := p.conns[key]; raced {
			// Another caller connected first; keep theirs.
			go conn.Shutdown()
			pc = existing
		} else {
			pc = &pooledConn{conn: conn, slots: make(chan struct{}, MaxPendingCalls), key: key}
			p.conns[key] = pc
		}
		pc.users++
		pc.lastUsed = time.Now()
		p.mu.Unlock()
	}
	return &Admin{
		conn:    pc.conn,
		mgr:     pc.conn,
		slots:   pc.slots,
		observe: p.Observer,
		fsa:     admin.NewFromConn(pc.conn),
		cache:   p.cache(cluster.ClusterID),
		release: func() { p.release(pc) },
	}, nil
}

func (p *Pool) dial(ctx context.Context, cluster *config.Cluster, creds contract.Credentials) (*rados.Conn, error) {
	what := fmt.Sprintf("connect to cluster %q as client.%s", cluster.ClusterID, creds.ID)
	conn, err := rados.NewConnWithUser(creds.ID)
	if err != nil {
		return nil, classify(err, what)
	}
	secs := strconv.Itoa(int(p.OpTimeout.Seconds()))
	opts := [][2]string{
		{"mon_host", cluster.MonHost()},
		{"key", creds.Key},
		{"rados_mon_op_timeout", "0"}, // see bounded: this timeout corrupts the heap

		{"rados_osd_op_timeout", secs},
		{"client_mount_timeout", secs},
		// Stay off the local disk and off stderr: no admin socket, no log file.
		{"admin_socket", ""},
		{"log_file", ""},
		{"log_to_stderr", "false"},
		{"err_to_stderr", "false"},
	}
	for _, o := range opts {
		if err := conn.SetConfigOption(o[0], o[1]); err != nil {
			conn.Shutdown()
			return nil, classify(err, fmt.Sprintf("%s: set option %s", what, o[0]))
		}
	}
	_, err = bounded(ctx, call{slots: make(chan struct{}, 1), op: "connect", observe: p.Observer}, what, func() (struct{}, error) {
		err := conn.Connect()
		if err != nil {
			conn.Shutdown()
		}
		return struct{}{}, err
	})
	if Errno(err) == syscall.ETIMEDOUT {
		// Over msgr1 a refused key looks like this too.
		return nil, fmt.Errorf("%w (are the monitors %s reachable, and is the key of client.%s right?)", err, cluster.MonHost(), creds.ID)
	}
	if err != nil {
		return nil, err
	}
	klog.FromContext(ctx).V(4).Info("Connected to Ceph", "cluster", cluster.ClusterID, "user", creds.ID)
	return conn, nil
}

func (p *Pool) release(pc *pooledConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pc.users--
	pc.lastUsed = time.Now()
	if pc.retired && pc.users == 0 {
		// Its last call frees its slot just after answering: look again
		// in a moment. Calls abandoned there keep it for the reaper.
		time.AfterFunc(retiredGrace, func() { p.closeIdle(neverIdle) })
	}
}

// retiredGrace is how long after its last handle was released a replaced
// connection is closed (if no call is left in it).
const retiredGrace = time.Second

// neverIdle makes closeIdle close replaced connections only.
const neverIdle = time.Duration(math.MaxInt64)

// closable tells whether nothing uses pc: no handle and no call in librados
// (a connection must not be shut down under a call).
func closable(pc *pooledConn) bool {
	return pc.users == 0 && len(pc.slots) == 0
}

func (p *Pool) reap() {
	interval := p.IdleTimeout / 2
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.closeIdle(p.IdleTimeout)
		}
	}
}

func (p *Pool) closeIdle(idle time.Duration) {
	p.mu.Lock()
	var closing []*rados.Conn
	for k, pc := range p.conns {
		if closable(pc) && (pc.retired || time.Since(pc.lastUsed) >= idle) {
			closing = append(closing, pc.conn)
			delete(p.conns, k)
		}
	}
	p.mu.Unlock()
	for _, c := range closing {
		c.Shutdown()
	}
	if len(closing) > 0 {
		// Not part of any request: the reaper logs through the global logger.
		klog.V(4).InfoS("Closed idle Ceph connections", "count", len(closing))
	}
}

// Close shuts every connection down.
func (p *Pool) Close() {
	p.stopOnce.Do(func() { close(p.stop) })
	p.closeIdle(-1)
}

func (p *Pool) cache(clusterID string) *clusterCache {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.clusters[clusterID]
	if !ok {
		c = &clusterCache{id: clusterID, groups: make(map[string]bool)}
		p.clusters[clusterID] = c
	}
	return c
}
