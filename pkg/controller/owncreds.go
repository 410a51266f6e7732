package controller

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// ListVolumes, ControllerGetVolume and GetCapacity carry no secrets, so the
// controller answers them with a credential of its own: a Secret mounted as
// a directory (Options.SecretDir), one file per key, the keys of the
// provisioner's secret (adminID/adminKey or userID/userKey). A directory
// named after a cluster ID inside it holds that cluster's credential; the
// files at the top serve every other cluster. The files are read at each
// call, so a rotated Secret (the kubelet rewrites the mount) takes effect
// without a restart. The key is never logged.

// secretKeys are the files read from a credential directory.
var secretKeys = []string{contract.AdminIDKey, contract.AdminKeyKey, contract.UserIDKey, contract.UserKeyKey}

// hasOwnCredential reports whether SecretDir holds a user ID, at its top
// or for some cluster. The sidecars ask for capabilities once, at their
// start: a Secret created later takes effect when the pod restarts.
func (s *Server) hasOwnCredential() bool {
	if s.opts.SecretDir == "" {
		return false
	}
	for _, pattern := range []string{"", "*"} {
		for _, id := range []string{contract.AdminIDKey, contract.UserIDKey} {
			if m, _ := filepath.Glob(filepath.Join(s.opts.SecretDir, pattern, id)); len(m) > 0 {
				return true
			}
		}
	}
	return false
}

// ownSecrets reads the controller's credential for a cluster.
func (s *Server) ownSecrets(cluster *config.Cluster) (map[string]string, error) {
	if s.opts.SecretDir == "" {
		return nil, fmt.Errorf("%w: the controller has no credential of its own (--controller-secret-dir)", contract.ErrFailedPrecondition)
	}
	return SecretsFromDir(s.opts.SecretDir, cluster)
}

// SecretsFromDir reads a credential directory laid out as the controller's
// (--controller-secret-dir) for a cluster: the orphan report takes the same.
func SecretsFromDir(dir string, cluster *config.Cluster) (map[string]string, error) {
	if filepath.IsLocal(cluster.ClusterID) {
		if st, err := os.Stat(filepath.Join(dir, cluster.ClusterID)); err == nil && st.IsDir() {
			dir = filepath.Join(dir, cluster.ClusterID)
		}
	}
	secrets := map[string]string{}
	for _, k := range secretKeys {
		b, err := os.ReadFile(filepath.Join(dir, k))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: controller credential: %w", contract.ErrFailedPrecondition, err)
		}
		secrets[k] = string(trimNewline(b))
	}
	return secrets, nil
}

// trimNewline drops one trailing newline, which a Secret made from a file
// with `kubectl create secret --from-file` keeps.
func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}

// openOwn connects to a cluster with the controller's own credential.
func (s *Server) openOwn(ctx context.Context, cluster *config.Cluster) (Session, error) {
	secrets, err := s.ownSecrets(cluster)
	if err != nil {
		return nil, err
	}
	creds, err := contract.CredentialsFromSecrets(secrets, true)
	if err != nil {
		// Not the request's fault: the deployment's.
		return nil, fmt.Errorf("%w: controller credential in %s: %s", contract.ErrFailedPrecondition, s.opts.SecretDir, err.Error())
	}
	sess, err := s.connect(ctx, cluster, creds)
	if err != nil {
		return nil, fmt.Errorf("cluster %q with the controller's credential: %w", cluster.ClusterID, err)
	}
	return sess, nil
}
