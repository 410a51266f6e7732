package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The controllers kube-controller-manager runs: PV/PVC binding and
// expansion, the protection finalizers, and what namespaces and service
// accounts need. Nothing that needs nodes or pods.
var controllers = []string{
	"persistentvolume-binder-controller",
	"persistentvolume-expander-controller",
	"persistentvolume-protection-controller",
	"persistentvolumeclaim-protection-controller",
	"namespace-controller",
	"garbage-collector-controller",
	"serviceaccount-controller",
	"root-ca-certificate-publisher-controller",
}

// controlPlane is etcd, kube-apiserver and kube-controller-manager on
// 127.0.0.1.
type controlPlane struct {
	pki             *pki
	server          string // https://127.0.0.1:PORT
	adminKubeconfig string
	admin           *rest.Config
}

// startControlPlane starts etcd, then the API server, waits until it is
// ready, then starts the controller-manager.
func (e *env) startControlPlane(ctx context.Context) (*controlPlane, error) {
	p, err := newPKI(filepath.Join(e.work, "pki"))
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	etcdURL, err := e.startEtcd(ctx)
	if err != nil {
		return nil, err
	}
	cp := &controlPlane{pki: p, adminKubeconfig: filepath.Join(e.work, "admin.kubeconfig")}
	if cp.server, err = e.startAPIServer(p, etcdURL); err != nil {
		return nil, err
	}
	admin := clientcmdapi.AuthInfo{ClientCertificateData: p.AdminCertPEM, ClientKeyData: p.AdminKeyPEM}
	if err := cp.writeKubeconfig(cp.adminKubeconfig, admin); err != nil {
		return nil, err
	}
	if cp.admin, err = clientcmd.BuildConfigFromFlags("", cp.adminKubeconfig); err != nil {
		return nil, fmt.Errorf("admin kubeconfig: %w", err)
	}
	if err := e.waitAPIServerReady(ctx, cp.admin); err != nil {
		return nil, err
	}
	if err := e.startControllerManager(cp); err != nil {
		return nil, err
	}
	return cp, nil
}

// writeKubeconfig writes a kubeconfig for this API server and user.
func (cp *controlPlane) writeKubeconfig(path string, user clientcmdapi.AuthInfo) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: cp.server, CertificateAuthorityData: cp.pki.CAPEM}
	cfg.AuthInfos["e2e"] = &user
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "e2e"}
	cfg.CurrentContext = "e2e"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// startEtcd starts a one-member etcd and returns its client URL once it
// reports healthy. fsync is off: the data is thrown away.
func (e *env) startEtcd(ctx context.Context) (string, error) {
	clientPort, err := freePort()
	if err != nil {
		return "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return "", err
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	err = e.start("etcd", e.tool("etcd"),
		"--name=e2e",
		"--data-dir="+filepath.Join(e.work, "etcd"),
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=e2e="+peerURL,
		"--unsafe-no-fsync",
	)
	if err != nil {
		return "", err
	}
	err = e.waitUntil(ctx, "etcd healthy", time.Minute, func(ctx context.Context) error {
		return httpOK(ctx, clientURL+"/health")
	})
	return clientURL, err
}

// httpOK fails unless GET url answers 200.
func httpOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// startAPIServer starts kube-apiserver and returns its URL. A loopback
// address cannot be published as the kubernetes service's endpoint, hence
// no endpoint reconciler. Privileged containers are allowed, as the node
// plugin's DaemonSet needs them.
func (e *env) startAPIServer(p *pki, etcdURL string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	err = e.start("kube-apiserver", e.tool("kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--tls-cert-file="+p.ServerCertFile,
		"--tls-private-key-file="+p.ServerKeyFile,
		"--client-ca-file="+p.CAFile,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+p.SAPublicKeyFile,
		"--service-account-signing-key-file="+p.SAPrivateKeyFile,
		"--service-cluster-ip-range=10.96.0.0/24",
		"--authorization-mode=RBAC",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		// The kubelet e2e's Node has an InternalIP, and a Hostname
		// that does not resolve: logs and exec go to the former.
		"--kubelet-preferred-address-types=InternalIP",
		// Alpha in 1.37: without it the API server drops the
		// pod.status.volumeHealth the kubelet e2e's kubelet writes.
		"--feature-gates=CSIVolumeHealth=true",
	)
	return fmt.Sprintf("https://127.0.0.1:%d", port), err
}

// waitAPIServerReady waits until /readyz answers ok, which includes the
// bootstrap of the default RBAC roles.
func (e *env) waitAPIServerReady(ctx context.Context, cfg *rest.Config) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	return e.waitUntil(ctx, "kube-apiserver ready", 2*time.Minute, func(ctx context.Context) error {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("%w: %s", err, body)
		}
		return nil
	})
}

// startControllerManager starts kube-controller-manager with the admin
// credentials. It serves no HTTPS port: nothing scrapes it.
func (e *env) startControllerManager(cp *controlPlane) error {
	return e.start("kube-controller-manager", e.tool("kube-controller-manager"),
		"--kubeconfig="+cp.adminKubeconfig,
		"--controllers="+strings.Join(controllers, ","),
		"--leader-elect=false",
		"--secure-port=0",
		"--root-ca-file="+cp.pki.CAFile,
		"--service-account-private-key-file="+cp.pki.SAPrivateKeyFile,
	)
}
