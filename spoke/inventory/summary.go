package inventory

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// maxMessage bounds a status message the spoke sends; the hub needs a hint, not a log.
const maxMessage = 512

func truncate(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	return s[:maxMessage-3] + "..."
}

// Ref is the ObjectRef of obj, of kind gvk.
func Ref(gvk schema.GroupVersionKind, obj client.Object) *fleetv1.ObjectRef {
	return &fleetv1.ObjectRef{
		Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName(),
		Uid: string(obj.GetUID()), ResourceVersion: obj.GetResourceVersion(),
	}
}

// Summarize turns one cached object into what the hub keeps of it.
func Summarize(gvk schema.GroupVersionKind, obj client.Object) *fleetv1.InventoryObject {
	out := &fleetv1.InventoryObject{Ref: Ref(gvk, obj), Labels: obj.GetLabels(), Status: summary(obj)}
	for _, o := range obj.GetOwnerReferences() {
		gv, _ := schema.ParseGroupVersion(o.APIVersion)
		out.Owners = append(out.Owners, &fleetv1.ObjectRef{Group: gv.Group, Version: gv.Version, Kind: o.Kind, Namespace: obj.GetNamespace(), Name: o.Name, Uid: string(o.UID)})
	}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		out.ContainerImages = images(o.Spec.Template.Spec)
	case *appsv1.StatefulSet:
		out.ContainerImages = images(o.Spec.Template.Spec)
	case *appsv1.DaemonSet:
		out.ContainerImages = images(o.Spec.Template.Spec)
	}
	if ev, ok := obj.(*corev1.Event); ok {
		io := ev.InvolvedObject
		gv, _ := schema.ParseGroupVersion(io.APIVersion)
		out.Owners = append(out.Owners, &fleetv1.ObjectRef{Group: gv.Group, Version: gv.Version, Kind: io.Kind, Namespace: io.Namespace, Name: io.Name, Uid: string(io.UID)})
	}
	return out
}

func summary(obj client.Object) *fleetv1.StatusSummary {
	switch o := obj.(type) {
	case *corev1.Pod:
		return podSummary(o)
	case *corev1.Node:
		return nodeSummary(o)
	case *corev1.Namespace:
		return &fleetv1.StatusSummary{Phase: string(o.Status.Phase), Ready: o.Status.Phase == corev1.NamespaceActive}
	case *corev1.Service:
		return &fleetv1.StatusSummary{Phase: string(o.Spec.Type), Ready: true, Counters: map[string]int64{"ports": int64(len(o.Spec.Ports))}}
	case *corev1.Event:
		return &fleetv1.StatusSummary{Phase: o.Type, Ready: o.Type != corev1.EventTypeWarning, Reason: o.Reason, Message: truncate(o.Message),
			Counters: map[string]int64{"count": int64(o.Count)}}
	case *appsv1.Deployment:
		want := replicas(o.Spec.Replicas)
		s := &fleetv1.StatusSummary{Ready: o.Status.AvailableReplicas >= want && o.Status.UpdatedReplicas >= want, Counters: map[string]int64{
			"replicas": int64(want), "readyReplicas": int64(o.Status.ReadyReplicas), "availableReplicas": int64(o.Status.AvailableReplicas),
			"updatedReplicas": int64(o.Status.UpdatedReplicas), "unavailableReplicas": int64(o.Status.UnavailableReplicas),
			"observedGeneration": o.Status.ObservedGeneration, "generation": o.Generation,
		}}
		s.Phase = "Progressing"
		if s.Ready {
			s.Phase = "Available"
		}
		for _, c := range o.Status.Conditions {
			if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse {
				s.Phase, s.Reason, s.Message = "Failed", c.Reason, truncate(c.Message)
			}
		}
		return s
	case *appsv1.StatefulSet:
		want := replicas(o.Spec.Replicas)
		return workload(o.Status.ReadyReplicas >= want, map[string]int64{"replicas": int64(want), "readyReplicas": int64(o.Status.ReadyReplicas),
			"availableReplicas": int64(o.Status.AvailableReplicas), "updatedReplicas": int64(o.Status.UpdatedReplicas)})
	case *appsv1.DaemonSet:
		return workload(o.Status.NumberReady >= o.Status.DesiredNumberScheduled, map[string]int64{
			"desiredNumberScheduled": int64(o.Status.DesiredNumberScheduled), "numberReady": int64(o.Status.NumberReady),
			"numberAvailable": int64(o.Status.NumberAvailable), "numberMisscheduled": int64(o.Status.NumberMisscheduled)})
	case *appsv1.ReplicaSet:
		want := replicas(o.Spec.Replicas)
		return workload(o.Status.ReadyReplicas >= want, map[string]int64{"replicas": int64(want), "readyReplicas": int64(o.Status.ReadyReplicas),
			"availableReplicas": int64(o.Status.AvailableReplicas)})
	case *autoscalingv2.HorizontalPodAutoscaler:
		minR := int32(1)
		if o.Spec.MinReplicas != nil {
			minR = *o.Spec.MinReplicas
		}
		s := &fleetv1.StatusSummary{Ready: true, Counters: map[string]int64{"minReplicas": int64(minR), "maxReplicas": int64(o.Spec.MaxReplicas),
			"currentReplicas": int64(o.Status.CurrentReplicas), "desiredReplicas": int64(o.Status.DesiredReplicas)}}
		for _, c := range o.Status.Conditions {
			if c.Status == corev1.ConditionFalse && (c.Type == autoscalingv2.AbleToScale || c.Type == autoscalingv2.ScalingActive) {
				s.Ready, s.Reason, s.Message = false, c.Reason, truncate(c.Message)
			}
		}
		return s
	case *aiopsv1alpha1.ManagedApplication:
		return conditionSummary(o.Status.Conditions)
	case *aiopsv1alpha1.AIOpsPolicy:
		return conditionSummary(o.Status.Conditions)
	}
	return &fleetv1.StatusSummary{}
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func workload(ready bool, counters map[string]int64) *fleetv1.StatusSummary {
	phase := "Progressing"
	if ready {
		phase = "Available"
	}
	return &fleetv1.StatusSummary{Phase: phase, Ready: ready, Counters: counters}
}

func conditionSummary(conds []metav1.Condition) *fleetv1.StatusSummary {
	c := meta.FindStatusCondition(conds, "Ready")
	if c == nil {
		return &fleetv1.StatusSummary{Phase: "Unknown"}
	}
	return &fleetv1.StatusSummary{Phase: "Ready=" + string(c.Status), Ready: c.Status == metav1.ConditionTrue, Reason: c.Reason, Message: truncate(c.Message)}
}

func podSummary(p *corev1.Pod) *fleetv1.StatusSummary {
	s := &fleetv1.StatusSummary{Phase: string(p.Status.Phase), Counters: map[string]int64{"containers": int64(len(p.Spec.Containers))}}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			s.Ready = c.Status == corev1.ConditionTrue
		}
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			s.Reason, s.Message = c.Reason, truncate(c.Message)
		}
	}
	var restarts int64
	for _, cs := range p.Status.ContainerStatuses {
		restarts += int64(cs.RestartCount)
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
			s.Phase, s.Reason, s.Message = cs.State.Waiting.Reason, cs.State.Waiting.Reason, truncate(cs.State.Waiting.Message)
		case cs.State.Terminated != nil && cs.State.Terminated.Reason != "" && s.Reason == "":
			s.Reason, s.Message = cs.State.Terminated.Reason, truncate(cs.State.Terminated.Message)
		case cs.LastTerminationState.Terminated != nil && s.Reason == "":
			s.Reason = cs.LastTerminationState.Terminated.Reason
		}
	}
	s.Counters["restarts"] = restarts
	if p.DeletionTimestamp != nil {
		s.Phase = "Terminating"
	}
	return s
}

func nodeSummary(n *corev1.Node) *fleetv1.StatusSummary {
	s := &fleetv1.StatusSummary{Phase: "NotReady", Counters: map[string]int64{}}
	for _, c := range n.Status.Conditions {
		switch {
		case c.Type == corev1.NodeReady:
			s.Ready = c.Status == corev1.ConditionTrue
			if s.Ready {
				s.Phase = "Ready"
			} else {
				s.Reason, s.Message = c.Reason, truncate(c.Message)
			}
		case c.Status == corev1.ConditionTrue: // MemoryPressure, DiskPressure, PIDPressure, NetworkUnavailable
			s.Reason = string(c.Type)
			s.Message = truncate(c.Message)
		}
	}
	if n.Spec.Unschedulable {
		s.Phase += ",SchedulingDisabled"
	}
	if q, ok := n.Status.Allocatable[corev1.ResourceCPU]; ok {
		s.Counters["allocatableMilliCPU"] = q.MilliValue()
	}
	if q, ok := n.Status.Allocatable[corev1.ResourceMemory]; ok {
		s.Counters["allocatableMemoryBytes"] = q.Value()
	}
	if q, ok := n.Status.Allocatable[corev1.ResourcePods]; ok {
		s.Counters["allocatablePods"] = q.Value()
	}
	return s
}

// Key identifies an object within the inventory, as the hub keys it.
func Key(r *fleetv1.ObjectRef) string {
	return fmt.Sprintf("%s/%s/%s/%s", r.GetGroup(), r.GetKind(), r.GetNamespace(), r.GetName())
}

func images(spec corev1.PodSpec) []string {
	out := make([]string, 0, len(spec.Containers))
	for _, c := range spec.Containers {
		out = append(out, c.Name+"="+c.Image)
	}
	return out
}
