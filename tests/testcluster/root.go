package testcluster

import (
	"os"
	"testing"
)

// RequireRoot skips a test that mounts when not run as root, except in CI
// (CI=true): CI runs as root, so a skip there means the test is broken and
// must fail rather than pass without mounting anything.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s, and CI=true: CI runs as root, so this must not happen", why)
	}
	t.Skip(why)
}
