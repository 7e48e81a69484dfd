package builtin_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubedevaiops/kubedevaiops/api/crds"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
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
	if kube, err = setup(cluster); err != nil {
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

// setup installs the project's CRDs and returns an admin client.
func setup(c *testbed.Cluster) (client.Client, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, aiopsv1alpha1.AddToScheme, apiextensionsv1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	kc, err := client.New(c.Config, client.Options{Scheme: s})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	objs, err := crds.Objects()
	if err != nil {
		return nil, err
	}
	for _, crd := range objs {
		if err := kc.Create(ctx, crd); err != nil {
			return nil, fmt.Errorf("install CRD %s: %w", crd.Name, err)
		}
	}
	for _, crd := range objs {
		err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			var got apiextensionsv1.CustomResourceDefinition
			if err := kc.Get(ctx, client.ObjectKey{Name: crd.Name}, &got); err != nil {
				return false, err
			}
			for _, cond := range got.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return nil, fmt.Errorf("CRD %s not established: %w", crd.Name, err)
		}
	}
	return kc, nil
}

func toUnstructured(o runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}
