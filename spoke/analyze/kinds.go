package analyze

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Kinds are every object type the analyzers read, for the agent's cache. Secrets are not
// among them: no analyzer reads one.
func Kinds() []client.Object {
	return []client.Object{
		&corev1.Pod{}, &corev1.Node{}, &corev1.Event{}, &corev1.Service{}, &corev1.PersistentVolumeClaim{},
		&appsv1.Deployment{}, &appsv1.ReplicaSet{}, &appsv1.StatefulSet{}, &appsv1.DaemonSet{}, &appsv1.ControllerRevision{},
		&batchv1.Job{}, &batchv1.CronJob{},
		&discoveryv1.EndpointSlice{},
		&networkingv1.Ingress{}, &networkingv1.IngressClass{},
		&autoscalingv2.HorizontalPodAutoscaler{},
	}
}

// Default returns one analyzer of each kind with default settings.
func Default() []Analyzer {
	return []Analyzer{
		&Pod{}, Deployment{}, ReplicaSet{}, StatefulSet{}, DaemonSet{}, Job{}, CronJob{},
		PVC{}, Service{}, Ingress{}, Node{}, HPA{}, Events{},
	}
}
