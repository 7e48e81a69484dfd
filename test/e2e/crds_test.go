package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/kubedevaiops/kubedevaiops/api/crds"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

var crdsOnce sync.Map // cluster name -> *sync.Once

// installCRDs installs the project's CRDs into c once per test binary and waits until the API
// server serves them.
func installCRDs(t *testing.T, c *testbed.Cluster) {
	t.Helper()
	once, _ := crdsOnce.LoadOrStore(c.Name, &sync.Once{})
	var err error
	once.(*sync.Once).Do(func() { err = doInstallCRDs(c) })
	require.NoError(t, err, "install CRDs into %s", c.Name)
}

func doInstallCRDs(c *testbed.Cluster) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	objs, err := crds.Objects()
	if err != nil {
		return err
	}
	client, err := apiextensionsclient.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	for _, crd := range objs {
		if _, err := client.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	for _, crd := range objs {
		err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			got, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
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
			return errors.Join(errors.New("CRD "+crd.Name+" not Established"), err)
		}
	}
	return nil
}

// objectClient creates arbitrary objects through the dynamic client, finding each kind's
// resource through discovery.
type objectClient struct {
	dyn    dynamic.Interface
	mapper meta.RESTMapper
}

func newObjectClient(t *testing.T, c *testbed.Cluster) *objectClient {
	dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(c.Config)
	require.NoError(t, err)
	return &objectClient{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
}

func (oc *objectClient) resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	m, err := oc.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			obj.SetNamespace("default")
		}
		return oc.dyn.Resource(m.Resource).Namespace(obj.GetNamespace()), nil
	}
	return oc.dyn.Resource(m.Resource), nil
}

// create creates obj with strict server-side field validation, so a misspelt field is refused
// instead of silently pruned.
func (oc *objectClient) create(ctx context.Context, obj *unstructured.Unstructured) error {
	r, err := oc.resource(obj)
	if err != nil {
		return err
	}
	_, err = r.Create(ctx, obj, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	return err
}

// readObjects decodes every YAML document in a file.
func readObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := k8syaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		err := dec.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "decode %s", path)
		if len(obj.Object) > 0 {
			out = append(out, obj)
		}
	}
	require.NotEmpty(t, out, "%s holds no object", path)
	return out
}

// Every sample under fleet-examples/ is accepted by a real API server, in each cluster.
func TestFleetExamplesAreAccepted(t *testing.T) {
	samples, err := filepath.Glob("../../fleet-examples/*/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(samples), 6, "the samples are found")
	for _, c := range clusters {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			installCRDs(t, c)
			oc := newObjectClient(t, c)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for _, path := range samples {
				for _, obj := range readObjects(t, path) {
					err := oc.create(ctx, obj)
					require.NoError(t, err, "%s: %s %s refused", filepath.Base(path), obj.GetKind(), obj.GetName())
					r, err := oc.resource(obj)
					require.NoError(t, err)
					t.Cleanup(func() { _ = r.Delete(context.Background(), obj.GetName(), metav1.DeleteOptions{}) })
				}
			}
		})
	}
}

// Each invalid object is refused with a message that says what is wrong, and nothing is created.
func TestInvalidObjectsAreRefusedWithTheirReason(t *testing.T) {
	const dir = "testdata/invalid"
	raw, err := os.ReadFile(filepath.Join(dir, "expected.yaml"))
	require.NoError(t, err)
	var table []struct {
		File    string `json:"file"`
		Message string `json:"message"`
	}
	require.NoError(t, yaml.UnmarshalStrict(raw, &table))
	require.GreaterOrEqual(t, len(table), 10)

	// The table and the directory agree: no sample without an expectation, and the reverse.
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	var onDisk, listed []string
	for _, f := range files {
		if filepath.Base(f) != "expected.yaml" {
			onDisk = append(onDisk, filepath.Base(f))
		}
	}
	for _, row := range table {
		require.NotEmpty(t, row.Message, "%s has an expected message", row.File)
		listed = append(listed, row.File)
	}
	sort.Strings(listed)
	require.Equal(t, onDisk, listed, "expected.yaml lists every invalid sample exactly once")

	c := clusters[0]
	installCRDs(t, c)
	oc := newObjectClient(t, c)
	for _, row := range table {
		t.Run(strings.TrimSuffix(row.File, ".yaml"), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			objs := readObjects(t, filepath.Join(dir, row.File))
			require.Len(t, objs, 1, "one invalid object per file")
			obj := objs[0]

			err := oc.create(ctx, obj)
			require.Error(t, err, "the API server accepted an invalid %s", obj.GetKind())
			require.True(t, apierrors.IsInvalid(err) || apierrors.IsBadRequest(err), "refused as invalid, got: %v", err)
			require.Contains(t, err.Error(), row.Message)

			r, rerr := oc.resource(obj)
			require.NoError(t, rerr)
			_, err = r.Get(ctx, obj.GetName(), metav1.GetOptions{})
			require.True(t, apierrors.IsNotFound(err), "nothing was created: %v", err)
		})
	}
}
