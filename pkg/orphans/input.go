package orphans

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/controller"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// readHandles reads one handle per line ("" reads nothing, "-" standard
// input); blank lines and lines starting with # are skipped. Lines that are
// no handle of this driver or of ceph-csi (a static volume's, which can be
// anything) are kept but counted on stderr; a file in which no line is a
// handle is refused: it is not a list of handles (a wrong jsonpath, PV
// names), and every volume would be an orphan.
func readHandles(path string, stdin io.Reader, stderr io.Writer) (map[string]bool, error) {
	if path == "" {
		return map[string]bool{}, nil
	}
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	out := map[string]bool{}
	other := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out[line] = true
		if !isHandle(line) {
			other++
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) > 0 && other == len(out) {
		return nil, fmt.Errorf("none of its %d lines is a volume or snapshot handle of this driver or of ceph-csi", len(out))
	}
	if other > 0 {
		fmt.Fprintf(stderr, "%s: %d of %d lines are not handles of this driver or of ceph-csi (static volumes?): they name nothing the report lists\n", path, other, len(out))
	}
	return out, nil
}

func isHandle(s string) bool {
	if _, err := volumeid.DecodeVolume(s); err == nil {
		return true
	}
	if _, err := volumeid.DecodeSnapshot(s); err == nil {
		return true
	}
	if _, err := volumeid.DecodeShallow(s); err == nil {
		return true
	}
	_, err := volumeid.DecodeCephCSI(s)
	return err == nil
}

// credentials reads the CephX credential for a cluster from files, never
// from the command line: a directory laid out as the controller's, or a
// keyring.
func credentials(o options, cluster *config.Cluster) (contract.Credentials, error) {
	if o.secretDir != "" {
		secrets, err := controller.SecretsFromDir(o.secretDir, cluster)
		if err != nil {
			return contract.Credentials{}, err
		}
		creds, err := contract.CredentialsFromSecrets(secrets, true)
		if err != nil {
			return contract.Credentials{}, fmt.Errorf("--secret-dir %s: %w", o.secretDir, err)
		}
		return creds, nil
	}
	data, err := os.ReadFile(o.keyring)
	if err != nil {
		return contract.Credentials{}, fmt.Errorf("--keyring: %w", err)
	}
	key, err := keyringKey(string(data), o.user)
	if err != nil {
		return contract.Credentials{}, fmt.Errorf("--keyring %s: %w", o.keyring, err)
	}
	creds := contract.Credentials{ID: o.user, Key: key}
	return creds, creds.Validate()
}

// keyringKey finds `key = …` in the section [client.<user>] of a Ceph
// keyring.
func keyringKey(data, user string) (string, error) {
	in := false
	for _, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			in = line == "[client."+user+"]"
			continue
		}
		if k, v, ok := strings.Cut(line, "="); in && ok && strings.TrimSpace(k) == "key" {
			return strings.TrimSpace(v), nil
		}
	}
	return "", errors.New("no key for client." + user)
}
