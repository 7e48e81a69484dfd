package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodeheartbeat "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
)

// ClusterOptions shape one test cluster. The zero value is a usable single-node cluster.
type ClusterOptions struct {
	// Name labels the cluster in logs and errors; default "cluster".
	Name string
	// Nodes is the number of kwok fake nodes; default 1.
	Nodes int
	// Stages are extra kwok Stage documents (YAML) added to kwok's default node and pod
	// lifecycle, for example to inject container failures.
	Stages []string
	// StartTimeout bounds the whole start-up; default 2 minutes.
	StartTimeout time.Duration
}

// Cluster is a running test cluster.
type Cluster struct {
	Name string
	// Config authenticates as a cluster admin (group system:masters) with a client certificate.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file with the same admin credentials.
	Kubeconfig string
	// Dir holds the cluster's certificates, data and one log file per component.
	Dir string

	procs []*process // in start order; stopped in reverse
	once  sync.Once
}

// StartCluster starts a cluster for a test and stops it in t.Cleanup. It fails the test with the
// failing component's name and log tail when a component does not come up.
func StartCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	c, err := NewCluster(context.Background(), t.TempDir(), opts)
	if err != nil {
		t.Fatalf("start test cluster: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// StartClusters starts n clusters in parallel, named <prefix>-0 ... <prefix>-(n-1).
func StartClusters(t testing.TB, n int, opts ClusterOptions) []*Cluster {
	t.Helper()
	clusters := make([]*Cluster, n)
	errs := make([]error, n)
	prefix := opts.Name
	if prefix == "" {
		prefix = "cluster"
	}
	var wg sync.WaitGroup
	for i := range n {
		dir := t.TempDir()
		o := opts
		o.Name = fmt.Sprintf("%s-%d", prefix, i)
		wg.Go(func() { clusters[i], errs[i] = NewCluster(context.Background(), dir, o) })
	}
	wg.Wait()
	for _, c := range clusters {
		if c != nil {
			t.Cleanup(c.Stop)
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("start %d test clusters: %v", n, err)
	}
	return clusters
}

// NewCluster starts a cluster in dir; the caller must call Stop. Tests normally use StartCluster;
// NewCluster serves TestMain, which shares one cluster across a package's tests.
func NewCluster(ctx context.Context, dir string, opts ClusterOptions) (*Cluster, error) {
	if opts.Name == "" {
		opts.Name = "cluster"
	}
	if opts.Nodes <= 0 {
		opts.Nodes = 1
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", opts.Name, err)
	}
	c := &Cluster{Name: opts.Name, Dir: dir}
	if err := c.start(ctx, opts); err != nil {
		c.Stop()
		return nil, fmt.Errorf("cluster %s: %w", opts.Name, err)
	}
	return c, nil
}

// Stop stops every process of the cluster, last started first. It is safe to call twice.
func (c *Cluster) Stop() {
	c.once.Do(func() {
		for i := len(c.procs) - 1; i >= 0; i-- {
			c.procs[i].stop(10 * time.Second)
		}
	})
}

// Clientset returns a typed client with admin rights.
func (c *Cluster) Clientset() (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(c.Config)
}

// LogPath is the log file of one component: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler or kwok.
func (c *Cluster) LogPath(component string) string {
	return filepath.Join(c.Dir, component+".log")
}

// files of a cluster directory
const (
	fileCA          = "ca.crt"
	fileServingCert = "apiserver.crt"
	fileServingKey  = "apiserver.key"
	fileSAPrivate   = "sa.key"
	fileSAPublic    = "sa.pub"
	serviceCIDR     = "10.96.0.0/16"
	serviceIP       = "10.96.0.1"
)

func (c *Cluster) path(name string) string { return filepath.Join(c.Dir, name) }

func (c *Cluster) start(ctx context.Context, opts ClusterOptions) error {
	bins := map[string]string{}
	for _, name := range []string{binEtcd, binAPIServer, binControllerManager, binScheduler, binKwok} {
		path, err := binary(name)
		if err != nil {
			return err
		}
		bins[name] = path
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]

	if err := c.writePKI(apiPort); err != nil {
		return fmt.Errorf("write certificates: %w", err)
	}

	// etcd: plain HTTP on loopback; only this cluster's apiserver talks to it.
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	etcd, err := c.run(binEtcd, bins[binEtcd], []string{
		"--name=" + opts.Name,
		"--data-dir=" + c.path("etcd-data"),
		"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=" + opts.Name + "=" + peerURL,
		"--unsafe-no-fsync", // test data: durability across power loss is not the point here
		"--log-level=warn",
	}, nil)
	if err != nil {
		return err
	}
	if err := etcd.await(ctx, "serving", httpReady(etcdURL+"/health")); err != nil {
		return err
	}

	api, err := c.run(binAPIServer, bins[binAPIServer], []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		// The endpoint reconciler refuses a loopback address, and nothing in a test bed reaches
		// the apiserver through the in-cluster kubernetes Service.
		"--endpoint-reconciler-type=none",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--tls-cert-file=" + c.path(fileServingCert), "--tls-private-key-file=" + c.path(fileServingKey),
		"--client-ca-file=" + c.path(fileCA),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.path(fileSAPublic),
		"--service-account-signing-key-file=" + c.path(fileSAPrivate),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--allow-privileged=true",
		"--profiling=false",
		"--v=1",
	}, nil)
	if err != nil {
		return err
	}
	c.Config = &rest.Config{
		Host: fmt.Sprintf("https://127.0.0.1:%d", apiPort),
		TLSClientConfig: rest.TLSClientConfig{
			CAFile:   c.path(fileCA),
			CertFile: c.path("admin.crt"),
			KeyFile:  c.path("admin.key"),
		},
		QPS:   200,
		Burst: 400,
	}
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	if err := api.await(ctx, "ready", func(ctx context.Context) error {
		_, err := cs.RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err
	}); err != nil {
		return err
	}

	c.Kubeconfig = c.path("admin.kubeconfig")
	for _, kc := range []struct{ file, user string }{
		{c.Kubeconfig, "admin"},
		{c.path("kube-controller-manager.kubeconfig"), "kube-controller-manager"},
		{c.path("kube-scheduler.kubeconfig"), "kube-scheduler"},
		{c.path("kwok.kubeconfig"), "kwok"},
	} {
		if err := c.writeKubeconfig(kc.file, kc.user); err != nil {
			return err
		}
	}

	kcm, err := c.run(binControllerManager, bins[binControllerManager], []string{
		"--kubeconfig=" + c.path("kube-controller-manager.kubeconfig"),
		"--authentication-kubeconfig=" + c.path("kube-controller-manager.kubeconfig"),
		"--authorization-kubeconfig=" + c.path("kube-controller-manager.kubeconfig"),
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + c.path(fileSAPrivate),
		"--root-ca-file=" + c.path(fileCA),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--controllers=*,-nodeipam", // no pod CIDRs: kwok assigns pod IPs itself
		"--v=1",
	}, nil)
	if err != nil {
		return err
	}
	sched, err := c.run(binScheduler, bins[binScheduler], []string{
		"--kubeconfig=" + c.path("kube-scheduler.kubeconfig"),
		"--authentication-kubeconfig=" + c.path("kube-scheduler.kubeconfig"),
		"--authorization-kubeconfig=" + c.path("kube-scheduler.kubeconfig"),
		"--leader-elect=false",
		"--secure-port=0",
		"--v=1",
	}, nil)
	if err != nil {
		return err
	}

	if err := c.writeKwokConfig(opts.Stages); err != nil {
		return err
	}
	kwokPort, err := freePorts(1)
	if err != nil {
		return err
	}
	kwok, err := c.run(binKwok, bins[binKwok], []string{
		"--kubeconfig=" + c.path("kwok.kubeconfig"),
		"--config=" + c.path("kwok.yaml"),
		"--manage-all-nodes=true",
		"--server-address=127.0.0.1:" + strconv.Itoa(kwokPort[0]),
		"--node-lease-duration-seconds=40",
	}, []string{"HOME=" + c.Dir}) // kwok also reads ~/.kwok/kwok.yaml; keep it to this cluster
	if err != nil {
		return err
	}

	// The controller manager is working once the service-account controller made the default
	// service account; pods cannot be created before it exists.
	if err := kcm.await(ctx, "creating service accounts", func(ctx context.Context) error {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return err
	}
	if err := c.createNodes(ctx, cs, opts.Nodes); err != nil {
		return err
	}
	if err := kwok.await(ctx, "marking nodes Ready", nodesReady(cs, opts.Nodes)); err != nil {
		return err
	}
	// The scheduler has no readiness signal we can reach with --secure-port=0 short of binding a
	// pod; a process that is still alive after the others came up is taken as started.
	if err := sched.exitedErr(); err != nil {
		return sched.failure(err)
	}
	return nil
}

func (c *Cluster) run(name, bin string, args []string, env []string) (*process, error) {
	p, err := startProcess(name, bin, args, c.Dir, env)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

func (c *Cluster) writePKI(apiPort int) error {
	ca, err := newAuthority("kubedevaiops-testbed-ca-" + c.Name)
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.path(fileCA), ca.certPEM, 0o600); err != nil {
		return err
	}
	serving, err := ca.issue("kube-apiserver", nil, []string{
		"127.0.0.1", "localhost", serviceIP,
		"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
	}, false)
	if err != nil {
		return err
	}
	if err := serving.write(c.path(fileServingCert), c.path(fileServingKey)); err != nil {
		return err
	}
	// Each component authenticates as the user RBAC's bootstrap policy grants its rights to.
	clients := []struct {
		file, user string
		groups     []string
	}{
		{"admin", "kubedevaiops-testbed-admin", []string{"system:masters"}},
		{"kube-controller-manager", "system:kube-controller-manager", nil},
		{"kube-scheduler", "system:kube-scheduler", nil},
		// kwok stands in for every kubelet and writes node and pod status cluster-wide.
		{"kwok", "kwok", []string{"system:masters"}},
	}
	for _, cl := range clients {
		kp, err := ca.issue(cl.user, cl.groups, nil, true)
		if err != nil {
			return err
		}
		if err := kp.write(c.path(cl.file+".crt"), c.path(cl.file+".key")); err != nil {
			return err
		}
	}
	priv, pub, err := serviceAccountKeys()
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.path(fileSAPrivate), priv, 0o600); err != nil {
		return err
	}
	return os.WriteFile(c.path(fileSAPublic), pub, 0o600)
}

// writeKubeconfig writes a kubeconfig for one of the client certificates from writePKI.
func (c *Cluster) writeKubeconfig(path, user string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[c.Name] = &clientcmdapi.Cluster{Server: c.Config.Host, CertificateAuthority: c.path(fileCA)}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{
		ClientCertificate: c.path(user + ".crt"),
		ClientKey:         c.path(user + ".key"),
	}
	cfg.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: user}
	cfg.CurrentContext = c.Name
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// writeKwokConfig writes kwok's Stage objects: the defaults kwok ships for node and pod life
// cycles (imported from the kwok module at the pinned version), then the caller's extra stages.
func (c *Cluster) writeKwokConfig(extra []string) error {
	docs := []string{
		nodefast.DefaultNodeInit,
		nodeheartbeat.DefaultNodeHeartbeatWithLease,
		podfast.DefaultPodReady,
		podfast.DefaultPodComplete,
		podfast.DefaultPodDelete,
	}
	docs = append(docs, extra...)
	for i := range docs {
		docs[i] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(docs[i]), "---"))
	}
	return os.WriteFile(c.path("kwok.yaml"), []byte(strings.Join(docs, "\n---\n")+"\n"), 0o600)
}

// createNodes registers the fake nodes kwok will manage, spread over three zones of one region.
func (c *Cluster) createNodes(ctx context.Context, cs kubernetes.Interface, n int) error {
	for i := range n {
		name := fmt.Sprintf("kwok-node-%d", i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
				Labels: map[string]string{
					"kubernetes.io/hostname":        name,
					"kubernetes.io/os":              "linux",
					"kubernetes.io/arch":            "amd64",
					"type":                          "kwok",
					"topology.kubernetes.io/region": "testbed-region",
					"topology.kubernetes.io/zone":   fmt.Sprintf("testbed-zone-%d", i%3),
				},
			},
			Status: corev1.NodeStatus{
				Capacity:    nodeResources(),
				Allocatable: nodeResources(),
			},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", name, err)
		}
	}
	return nil
}

func nodeResources() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
}

func nodesReady(cs kubernetes.Interface, want int) func(context.Context) error {
	return func(ctx context.Context) error {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if ready < want {
			return fmt.Errorf("%d of %d nodes Ready", ready, want)
		}
		return nil
	}
}
