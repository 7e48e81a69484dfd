// Package inventory turns the agent's informer caches into the inventory the hub keeps: one
// compact InventoryObject per watched object, a full snapshot on demand, and deltas coalesced
// per object so that memory stays bounded by the cluster's size while the hub is away.
package inventory

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
)

// Kind is one watched kind: its group/version/kind and how to make empty objects and lists of it.
type Kind struct {
	GVK     schema.GroupVersionKind
	New     func() client.Object
	NewList func() client.ObjectList
}

// Kinds are what the agent watches and streams.
func Kinds() []Kind {
	core := func(kind string) schema.GroupVersionKind { return corev1.SchemeGroupVersion.WithKind(kind) }
	apps := func(kind string) schema.GroupVersionKind { return appsv1.SchemeGroupVersion.WithKind(kind) }
	return []Kind{
		{core("Node"), func() client.Object { return &corev1.Node{} }, func() client.ObjectList { return &corev1.NodeList{} }},
		{core("Namespace"), func() client.Object { return &corev1.Namespace{} }, func() client.ObjectList { return &corev1.NamespaceList{} }},
		{core("Pod"), func() client.Object { return &corev1.Pod{} }, func() client.ObjectList { return &corev1.PodList{} }},
		{core("Service"), func() client.Object { return &corev1.Service{} }, func() client.ObjectList { return &corev1.ServiceList{} }},
		{core("Event"), func() client.Object { return &corev1.Event{} }, func() client.ObjectList { return &corev1.EventList{} }},
		{apps("Deployment"), func() client.Object { return &appsv1.Deployment{} }, func() client.ObjectList { return &appsv1.DeploymentList{} }},
		{apps("StatefulSet"), func() client.Object { return &appsv1.StatefulSet{} }, func() client.ObjectList { return &appsv1.StatefulSetList{} }},
		{apps("DaemonSet"), func() client.Object { return &appsv1.DaemonSet{} }, func() client.ObjectList { return &appsv1.DaemonSetList{} }},
		{apps("ReplicaSet"), func() client.Object { return &appsv1.ReplicaSet{} }, func() client.ObjectList { return &appsv1.ReplicaSetList{} }},
		{autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"),
			func() client.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
			func() client.ObjectList { return &autoscalingv2.HorizontalPodAutoscalerList{} }},
		{aiopsv1alpha1.GroupVersion.WithKind("ManagedApplication"),
			func() client.Object { return &aiopsv1alpha1.ManagedApplication{} },
			func() client.ObjectList { return &aiopsv1alpha1.ManagedApplicationList{} }},
		{aiopsv1alpha1.GroupVersion.WithKind("AIOpsPolicy"),
			func() client.Object { return &aiopsv1alpha1.AIOpsPolicy{} },
			func() client.ObjectList { return &aiopsv1alpha1.AIOpsPolicyList{} }},
	}
}
