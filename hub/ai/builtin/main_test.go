package builtin_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// One test-bed cluster serves the package: the generated manifests are dry-run against its
// real kube-apiserver, and ManagedApplications are validated and defaulted by its CRDs.
var kube client.Client

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kubedevaiops-ai-builtin-")
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
	cluster, err := testbed.NewCluster(context.Background(), dir, testbed.ClusterOptions{Name: "ai-builtin"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ai/builtin test bed:", err)
		keep = true
		return 1
	}
	defer cluster.Stop()
	if kube, err = cluster.InstallCRDs(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		keep = true
		return 1
	}
	code := m.Run()
	if code != 0 {
		keep = true
		fmt.Fprintln(os.Stderr, "ai/builtin: component logs kept in", dir)
	}
	return code
}

func toUnstructured(o runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}
