package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandLine covers what csic answers before, or instead of, a call
// that reaches a driver: no cluster needed.
func TestCommandLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badSecrets := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badSecrets, []byte("CreateVolumeSecret:\n  adminKey: [SECRETVALUE]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Nothing serves here: calls fail as Unavailable.
	nowhere := "unix://" + filepath.Join(dir, "csi.sock")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, 2, "usage: csic"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"missing argument", []string{"-endpoint", nowhere, "mount", "demo"}, 2, "usage: csic mount VOLUME PATH"},
		{"too many arguments", []string{"-endpoint", nowhere, "delete", "a", "b"}, 2, "usage: csic delete VOLUME"},
		{"snapshot without a verb", []string{"snapshot"}, 2, `unknown command "snapshot"`},
		{"help of a command", []string{"snapshot", "create", "-h"}, 0, "usage: csic snapshot create NAME VOLUME"},
		{"not a unix socket", []string{"-endpoint", "tcp://127.0.0.1:1", "probe"}, 2, "want unix:///path/to/csi.sock"},
		{"a named secrets file must exist", []string{"-endpoint", nowhere, "-secrets", filepath.Join(dir, "none.yaml"), "probe"}, 2, "secrets: open"},
		{"a secret is never shown", []string{"-endpoint", nowhere, "-secrets", badSecrets, "probe"}, 2, "adminKey: want a string"},
		{"bad size", []string{"-endpoint", nowhere, "create", "demo", "1G"}, 1, `size "1G": want a positive size such as 1Gi`},
		{"bad name", []string{"-endpoint", nowhere, "create", "../demo"}, 1, `volume name "../demo"`},
		{"no driver", []string{"-endpoint", nowhere, "-timeout", "5s", "probe"}, 1, "Probe: Unavailable: "},
		{"flags after arguments", []string{"-endpoint", nowhere, "-timeout", "5s", "create", "demo", "-param", "fsName=x"}, 1, "CreateVolume demo: Unavailable: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr.String(), tt.code, tt.want)
			}
			if strings.Contains(stdout.String()+stderr.String(), "SECRETVALUE") {
				t.Errorf("a secret was printed")
			}
		})
	}
}

func TestDefaultEndpoint(t *testing.T) {
	t.Setenv("CSI_ENDPOINT", "unix:///elsewhere/csi.sock")
	if got := defaultEndpoint(); got != "unix:///elsewhere/csi.sock" {
		t.Errorf("with $CSI_ENDPOINT: %q", got)
	}
	t.Setenv("CSI_ENDPOINT", "")
	dir := t.TempDir()
	t.Chdir(dir)
	if got, want := defaultEndpoint(), "unix://"+filepath.Join(dir, "_build", "run", "csi.sock"); got != want {
		t.Errorf("default: %q, want make run's %q", got, want)
	}
}
