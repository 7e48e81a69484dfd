package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kubedevaiops/kubedevaiops/api/crds"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiext "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

func gvr(kind string) (schema.GroupVersionResource, bool) {
	r := map[string]string{"ManagedApplication": "managedapplications", "AIOpsPolicy": "aiopspolicies"}[kind]
	return schema.GroupVersionResource{Group: "aiops.kubedevaiops.io", Version: "v1alpha1", Resource: r}, kind == "ManagedApplication"
}

func load(path string) *unstructured.Unstructured {
	data, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		panic(fmt.Sprintf("%s: %v", path, err))
	}
	return &unstructured.Unstructured{Object: obj}
}

func create(ctx context.Context, dc dynamic.Interface, u *unstructured.Unstructured, dry bool) (*unstructured.Unstructured, error) {
	g, namespaced := gvr(u.GetKind())
	opts := metav1.CreateOptions{}
	if dry {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if namespaced {
		return dc.Resource(g).Namespace(u.GetNamespace()).Create(ctx, u, opts)
	}
	return dc.Resource(g).Create(ctx, u, opts)
}

func main() {
	host := flag.String("host", "", "")
	token := flag.String("token", "", "")
	root := flag.String("root", ".", "")
	flag.Parse()
	cfg := &rest.Config{Host: *host, BearerToken: *token, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	ctx := context.Background()
	ac := apiext.NewForConfigOrDie(cfg)
	objs, err := crds.Objects()
	if err != nil {
		panic(err)
	}
	for _, c := range objs {
		_ = ac.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, c.Name, metav1.DeleteOptions{})
	}
	for _, c := range objs {
		for {
			_, err := ac.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, c.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if _, err := ac.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, c, metav1.CreateOptions{}); err != nil {
			fmt.Println("CRD CREATE FAILED", c.Name, err)
			os.Exit(1)
		}
	}
	for _, c := range objs {
		for {
			got, err := ac.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, c.Name, metav1.GetOptions{})
			if err == nil {
				ok := false
				for _, cond := range got.Status.Conditions {
					if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
						ok = true
					}
				}
				if ok {
					break
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		fmt.Println("CRD established", c.Name)
	}
	time.Sleep(2 * time.Second)
	dc := dynamic.NewForConfigOrDie(cfg)
	valid, _ := filepath.Glob(filepath.Join(*root, "fleet-examples/*/*.yaml"))
	sort.Strings(valid)
	fail := 0
	for _, f := range valid {
		u := load(f)
		out, err := create(ctx, dc, u, false)
		if err != nil {
			fail++
			fmt.Printf("VALID REJECTED %s: %v\n", f, err)
			continue
		}
		spec, _ := yaml.Marshal(out.Object["spec"])
		_ = spec
		fmt.Printf("valid ok %s\n", f)
	}
	type exp struct {
		File    string `json:"file"`
		Message string `json:"message"`
	}
	var exps []exp
	data, err := os.ReadFile(filepath.Join(*root, "test/e2e/testdata/invalid/expected.yaml"))
	if err != nil {
		panic(err)
	}
	if err := yaml.UnmarshalStrict(data, &exps); err != nil {
		panic(err)
	}
	files, _ := filepath.Glob(filepath.Join(*root, "test/e2e/testdata/invalid/*.yaml"))
	listed := map[string]bool{}
	for _, e := range exps {
		listed[e.File] = true
		u := load(filepath.Join(*root, "test/e2e/testdata/invalid", e.File))
		_, err := create(ctx, dc, u, true)
		if err == nil {
			fail++
			fmt.Printf("INVALID ACCEPTED %s\n", e.File)
			continue
		}
		if !strings.Contains(err.Error(), e.Message) {
			fail++
			fmt.Printf("MESSAGE MISMATCH %s\n   want %q\n   got  %s\n", e.File, e.Message, err)
			continue
		}
		fmt.Printf("invalid ok %s: %s\n", e.File, err)
	}
	for _, f := range files {
		b := filepath.Base(f)
		if b != "expected.yaml" && !listed[b] {
			fail++
			fmt.Println("NOT LISTED", b)
		}
	}
	fmt.Println("failures:", fail)
	if len(os.Args) > 0 && os.Getenv("DUMP") != "" {
		g, _ := gvr("ManagedApplication")
		l, _ := dc.Resource(g).Namespace("default").Get(ctx, "storefront", metav1.GetOptions{})
		b, _ := yaml.Marshal(l.Object)
		fmt.Println(string(b))
	}
}
