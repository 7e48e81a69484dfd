package analyze_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kubedevaiops/kubedevaiops/spoke/analyze"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// The one test-bed cluster of the package, a direct client, and a cache of analyze.Kinds()
// standing in for the agent's.
var (
	bed       *testbed.Cluster
	kube      client.Client
	clientset *kubernetes.Clientset
	reader    client.Reader
	logDir    string
)

// handsOffLabel marks nodes (and their pods) that kwok leaves alone, so a test can set their
// status through the status subresource without kwok rewriting it.
const handsOffLabel = "analyze.kubedevaiops.io/hands-off"

// logsNamespace holds the pods kwok serves logs for (from the files in logDir).
const logsNamespace = "analyze-logs"

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctrllog.SetLogger(logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "kubedevaiops-analyze-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	keep := false
	defer func() {
		if !keep {
			_ = os.RemoveAll(dir)
		}
	}()
	logDir = filepath.Join(dir, "logs")
	if err := writeLogFiles(logDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bed, err = testbed.NewCluster(ctx, filepath.Join(dir, "cluster"), testbed.ClusterOptions{
		Name:   "analyze",
		Stages: []string{testbed.StageCrashLoop, testbed.StageOOMKilled, kwokExtras(logDir)},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "analyze test bed:", err)
		keep = true
		return 1
	}
	defer bed.Stop()
	if err := connect(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "analyze test bed:", err)
		keep = true
		return 1
	}
	if err := setupNodes(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "analyze test bed:", err)
		keep = true
		return 1
	}
	code := m.Run()
	if code != 0 {
		keep = true
		fmt.Fprintln(os.Stderr, "analyze: component logs kept in", dir)
	}
	return code
}

// kwokExtras configures kwok beyond the test bed's stages: leave hands-off nodes and pods
// alone, and serve container logs of the pods in logsNamespace from files.
func kwokExtras(dir string) string {
	return fmt.Sprintf(`apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  # kwok's defaults, which a configuration document given to kwok must spell out
  cidr: 10.0.0.0/24
  enableDebuggingHandlers: true
  enableProfilingHandler: false
  enableContentionProfiling: false
  podPlayStageParallelism: 4
  nodePlayStageParallelism: 4
  nodeLeaseParallelism: 4
  podsOnNodeSyncParallelism: 1
  enablePodsOnNodeSyncListPager: true
  disregardStatusWithLabelSelector: %s=true
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: analyze-logs
spec:
  selector:
    matchNamespaces: [%s]
  logs:
  - logsFile: %s
    previousLogsFile: %s
`, handsOffLabel, logsNamespace, filepath.Join(dir, "current.log"), filepath.Join(dir, "previous.log"))
}

// The logs kwok serves, in the CRI log format a kubelet reads.
var (
	currentLog  = []string{"starting app v2", "listening on :8080"}
	previousLog = []string{"starting app v2", "connecting to db with password=hunter2", "panic: config key \"db.url\" missing"}
)

func writeLogFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	write := func(name string, lines []string) error {
		var b strings.Builder
		for i, l := range lines {
			fmt.Fprintf(&b, "2026-01-01T00:00:%02d.000000000Z stdout F %s\n", i, l)
		}
		return os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o600)
	}
	if err := write("current.log", currentLog); err != nil {
		return err
	}
	return write("previous.log", previousLog)
}

func connect(ctx context.Context) error {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	var err error
	if kube, err = client.New(bed.Config, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	if clientset, err = bed.Clientset(); err != nil {
		return err
	}
	// A cache that fails reads of kinds it was not told about proves Kinds() complete.
	c, err := cache.New(bed.Config, cache.Options{Scheme: scheme, ReaderFailOnMissingInformer: true})
	if err != nil {
		return err
	}
	for _, obj := range analyze.Kinds() {
		if _, err := c.GetInformer(ctx, obj); err != nil {
			return fmt.Errorf("informer for %T: %w", obj, err)
		}
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return fmt.Errorf("cache did not sync")
	}
	reader = c
	return nil
}

// kwokPort is the port of kwok's kubelet server, from its log.
func kwokPort() (string, error) {
	b, err := os.ReadFile(bed.LogPath("kwok"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`Starting (?:test )?HTTPS server".*?"address":"127\.0\.0\.1:(\d+)"`).FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("kwok's server address not in its log")
	}
	return string(m[1]), nil
}

// namespace creates a namespace for one test and deletes it afterwards.
func namespace(t *testing.T, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := kube.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() { _ = kube.Delete(context.Background(), ns) })
	return name
}
