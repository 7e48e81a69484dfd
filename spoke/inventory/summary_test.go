package inventory

import (
	"testing"

	"github.com/stretchr/testify/assert"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestPodSummary(t *testing.T) {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", UID: "u1", ResourceVersion: "7",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc", UID: "rs"}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			RestartCount: 4, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled"}},
		}}},
	}
	o := Summarize(corev1.SchemeGroupVersion.WithKind("Pod"), p)
	assert.Equal(t, "Pod", o.GetRef().GetKind())
	assert.Equal(t, "7", o.GetRef().GetResourceVersion())
	assert.Equal(t, "CrashLoopBackOff", o.GetStatus().GetPhase())
	assert.False(t, o.GetStatus().GetReady())
	assert.Equal(t, int64(4), o.GetStatus().GetCounters()["restarts"])
	assert.Equal(t, "apps", o.GetOwners()[0].GetGroup())
	assert.Equal(t, "ReplicaSet", o.GetOwners()[0].GetKind())
}

func TestWorkloadAndNodeSummaries(t *testing.T) {
	d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3)},
		Status: appsv1.DeploymentStatus{AvailableReplicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3}}
	s := Summarize(appsv1.SchemeGroupVersion.WithKind("Deployment"), d).GetStatus()
	assert.Equal(t, "Available", s.GetPhase())
	assert.True(t, s.GetReady())
	d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}}
	d.Status.AvailableReplicas = 1
	s = Summarize(appsv1.SchemeGroupVersion.WithKind("Deployment"), d).GetStatus()
	assert.Equal(t, "Failed", s.GetPhase())
	assert.Equal(t, "ProgressDeadlineExceeded", s.GetReason())

	n := &corev1.Node{Status: corev1.NodeStatus{
		Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}, {Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue}},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")},
	}}
	s = Summarize(corev1.SchemeGroupVersion.WithKind("Node"), n).GetStatus()
	assert.Equal(t, "Ready", s.GetPhase())
	assert.Equal(t, "MemoryPressure", s.GetReason())
	assert.Equal(t, int64(2000), s.GetCounters()["allocatableMilliCPU"])
}

func TestKindsCoverTheIssue(t *testing.T) {
	var got []string
	for _, k := range Kinds() {
		got = append(got, k.GVK.Kind)
		assert.NotNil(t, k.New())
		assert.NotNil(t, k.NewList())
	}
	assert.ElementsMatch(t, []string{"Node", "Namespace", "Pod", "Service", "Event", "Deployment", "StatefulSet", "DaemonSet",
		"ReplicaSet", "HorizontalPodAutoscaler", "ManagedApplication", "AIOpsPolicy"}, got)
}
