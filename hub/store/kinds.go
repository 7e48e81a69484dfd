package store

import (
	"sort"

	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
)

// The kinds the store holds.
const (
	KindManagedCluster      = "ManagedCluster"
	KindManagedClusterSet   = "ManagedClusterSet"
	KindPlacement           = "Placement"
	KindPlacementDecision   = "PlacementDecision"
	KindAIOpsPolicy         = "AIOpsPolicy"
	KindManagedApplication  = "ManagedApplication"
	KindBootstrapToken      = hubv1alpha1.KindBootstrapToken
	KindPlan                = hubv1alpha1.KindPlan
	KindAction              = hubv1alpha1.KindAction
	KindKnowledgeEntry      = hubv1alpha1.KindKnowledgeEntry
	KindHubMember           = hubv1alpha1.KindHubMember
	KindClusterRegistration = hubv1alpha1.KindClusterRegistration
	KindClusterLease        = hubv1alpha1.KindClusterLease
	KindIncident            = hubv1alpha1.KindIncident
)

// KindInfo describes one kind of resource the store holds.
type KindInfo struct {
	// Kind is the object's kind, e.g. "ManagedCluster".
	Kind string
	// Group and Version are its API group and version.
	Group, Version string
	// Namespaced is true for kinds whose objects live in a namespace.
	Namespaced bool
	// New returns a new, empty object of the kind's Go type, for strict decoding.
	New func() any
}

// APIVersion is the object's apiVersion field: "group/version".
func (k KindInfo) APIVersion() string { return k.Group + "/" + k.Version }

var kinds = map[string]KindInfo{}

func register(k KindInfo) { kinds[k.Kind] = k }

func init() {
	ocm := clusterv1.GroupName
	register(KindInfo{KindManagedCluster, ocm, "v1", false, func() any { return &clusterv1.ManagedCluster{} }})
	register(KindInfo{KindManagedClusterSet, ocm, "v1beta2", false, func() any { return &clusterv1beta2.ManagedClusterSet{} }})
	register(KindInfo{KindPlacement, ocm, "v1beta1", true, func() any { return &clusterv1beta1.Placement{} }})
	register(KindInfo{KindPlacementDecision, ocm, "v1beta1", true, func() any { return &clusterv1beta1.PlacementDecision{} }})
	register(KindInfo{KindAIOpsPolicy, aiopsv1alpha1.Group, aiopsv1alpha1.Version, false, func() any { return &aiopsv1alpha1.AIOpsPolicy{} }})
	register(KindInfo{KindManagedApplication, aiopsv1alpha1.Group, aiopsv1alpha1.Version, true, func() any { return &aiopsv1alpha1.ManagedApplication{} }})
	hub, v := hubv1alpha1.Group, hubv1alpha1.Version
	register(KindInfo{KindBootstrapToken, hub, v, false, func() any { return &hubv1alpha1.BootstrapToken{} }})
	register(KindInfo{KindPlan, hub, v, false, func() any { return &hubv1alpha1.Plan{} }})
	register(KindInfo{KindAction, hub, v, false, func() any { return &hubv1alpha1.Action{} }})
	register(KindInfo{KindKnowledgeEntry, hub, v, false, func() any { return &hubv1alpha1.KnowledgeEntry{} }})
	register(KindInfo{KindHubMember, hub, v, false, func() any { return &hubv1alpha1.HubMember{} }})
	register(KindInfo{KindClusterRegistration, hub, v, false, func() any { return &hubv1alpha1.ClusterRegistration{} }})
	register(KindInfo{KindClusterLease, hub, v, false, func() any { return &hubv1alpha1.ClusterLease{} }})
	register(KindInfo{KindIncident, hub, v, false, func() any { return &hubv1alpha1.Incident{} }})
	register(KindInfo{hubv1alpha1.KindSigningKey, hub, v, false, func() any { return &hubv1alpha1.SigningKey{} }})
	register(KindInfo{hubv1alpha1.KindJulesSession, hub, v, false, func() any { return &hubv1alpha1.JulesSession{} }})
}

// LookupKind returns the registered kind named kind.
func LookupKind(kind string) (KindInfo, bool) {
	k, ok := kinds[kind]
	return k, ok
}

// Kinds returns every registered kind, sorted by name.
func Kinds() []KindInfo {
	out := make([]KindInfo, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}
