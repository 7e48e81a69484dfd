package store

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestKindRegistry(t *testing.T) {
	want := map[string]struct {
		apiVersion string
		namespaced bool
	}{
		KindManagedCluster:      {"cluster.open-cluster-management.io/v1", false},
		KindManagedClusterSet:   {"cluster.open-cluster-management.io/v1beta2", false},
		KindPlacement:           {"cluster.open-cluster-management.io/v1beta1", true},
		KindPlacementDecision:   {"cluster.open-cluster-management.io/v1beta1", true},
		KindAIOpsPolicy:         {"aiops.kubedevaiops.io/v1alpha1", false},
		KindManagedApplication:  {"aiops.kubedevaiops.io/v1alpha1", true},
		KindBootstrapToken:      {"hub.kubedevaiops.io/v1alpha1", false},
		KindPlan:                {"hub.kubedevaiops.io/v1alpha1", false},
		KindAction:              {"hub.kubedevaiops.io/v1alpha1", false},
		KindClusterRegistration: {"hub.kubedevaiops.io/v1alpha1", false},
		KindClusterLease:        {"hub.kubedevaiops.io/v1alpha1", false},
		KindKnowledgeEntry:      {"hub.kubedevaiops.io/v1alpha1", false},
		KindHubMember:           {"hub.kubedevaiops.io/v1alpha1", false},
		KindIncident:            {"hub.kubedevaiops.io/v1alpha1", false},
		"SigningKey":            {"hub.kubedevaiops.io/v1alpha1", false},
		"JulesSession":          {"hub.kubedevaiops.io/v1alpha1", false},
	}
	all := Kinds()
	require.Len(t, all, len(want))
	for i, k := range all {
		if i > 0 {
			assert.Less(t, all[i-1].Kind, k.Kind, "sorted")
		}
		w, ok := want[k.Kind]
		require.True(t, ok, k.Kind)
		assert.Equal(t, w.apiVersion, k.APIVersion(), k.Kind)
		assert.Equal(t, w.namespaced, k.Namespaced, k.Kind)
		obj := k.New()
		_, isObj := obj.(runtime.Object)
		_, hasMeta := obj.(metav1.Object)
		assert.True(t, isObj && hasMeta, "%s: %T", k.Kind, obj)
		assert.NotSame(t, obj, k.New(), "New returns a fresh object")

		// Every kind round-trips through the store with a minimal object.
		ns := ""
		if k.Namespaced {
			ns = "team-a"
		}
		f := newFSM(t)
		res := f.must(EncodeCreateWith(k.Kind, []byte(`{"metadata":{"name":"x","namespace":"`+ns+`"}}`), "u", t0))
		assert.Equal(t, k.Kind, res.Resource.Kind)
		got, err := f.s.Get(k.Kind, ns, "x")
		require.NoError(t, err)
		assert.Contains(t, string(got.Object), `"apiVersion":"`+k.APIVersion()+`"`)
	}
	_, ok := LookupKind("Pod")
	assert.False(t, ok)
}
