package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

type errnoErr syscall.Errno

func (e errnoErr) Error() string  { return syscall.Errno(e).Error() }
func (e errnoErr) ErrorCode() int { return -int(e) }

func TestExposition(t *testing.T) {
	t.Parallel()
	m := New()
	m.ObserveRPC("CreateVolume", codes.OK, 20*time.Millisecond)
	m.ObserveRPC("CreateVolume", codes.AlreadyExists, time.Millisecond)
	m.ObserveCephCall("subvolume_create", 5*time.Millisecond, nil)
	m.ObserveCephCall("subvolume_info", time.Millisecond, errnoErr(syscall.ENOENT))
	m.ObserveCephCall("connect", time.Second, errors.New("boom"))

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`cephfs_csi_rpc_total{code="OK",method="CreateVolume"} 1`,
		`cephfs_csi_rpc_total{code="AlreadyExists",method="CreateVolume"} 1`,
		`cephfs_csi_rpc_duration_seconds_count{method="CreateVolume"} 2`,
		`cephfs_csi_ceph_calls_total{error="",op="subvolume_create"} 1`,
		`cephfs_csi_ceph_calls_total{error="no such file or directory",op="subvolume_info"} 1`,
		`cephfs_csi_ceph_calls_total{error="other",op="connect"} 1`,
		`cephfs_csi_ceph_call_duration_seconds_count{op="subvolume_create"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
