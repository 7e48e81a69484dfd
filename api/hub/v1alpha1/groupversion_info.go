// +kubebuilder:object:generate=true

package hubv1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group is the API group of every kind in this package.
const Group = "hub.kubedevaiops.io"

// Version is the API version of every kind in this package.
const Version = "v1alpha1"

// The kinds of this package.
const (
	KindBootstrapToken      = "BootstrapToken"
	KindPlan                = "Plan"
	KindAction              = "Action"
	KindKnowledgeEntry      = "KnowledgeEntry"
	KindClusterRegistration = "ClusterRegistration"
	KindClusterLease        = "ClusterLease"
	KindIncident            = "Incident"
)

var (
	// GroupVersion is the group and version of these kinds.
	GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&BootstrapToken{}, &BootstrapTokenList{},
		&Plan{}, &PlanList{},
		&Action{}, &ActionList{},
		&KnowledgeEntry{}, &KnowledgeEntryList{},
		&HubMember{}, &HubMemberList{},
		&ClusterRegistration{}, &ClusterRegistrationList{},
		&ClusterLease{}, &ClusterLeaseList{},
		&Incident{}, &IncidentList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
