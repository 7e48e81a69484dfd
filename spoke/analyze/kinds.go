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

// Default returns one analyzer of each kind with default settings. The signatures they make
// ("<analyzer>/<Reason>[/<detail>]", never an object's name, namespace or cluster):
//
//	pod/CrashLoopBackOff/<last termination reason: Error, OOMKilled, Completed, …>
//	pod/ImagePullBackOff[/NotFound|/Unauthorized]   (ErrImagePull too)
//	pod/<CreateContainerConfigError|CreateContainerError|InvalidImageName|RunContainerError|…>
//	pod/OOMKilled   pod/Restarting/<last termination reason>   pod/Evicted
//	pod/Unschedulable/<InsufficientCPU|InsufficientMemory|Taint|NodeAffinity|UnboundPVC|…>
//	pod/Pending/<PodScheduled reason>   pod/Pending/Stuck
//	pod/ProbeFailing/<Readiness|Liveness|Startup>   pod/ContainerNotReady
//	deployment/ProgressDeadlineExceeded   deployment/UnavailableReplicas   deployment/ReplicaFailure/<reason>
//	replicaset/ReplicaFailure/<reason>   replicaset/UnavailableReplicas
//	statefulset/UnavailableReplicas   statefulset/MissingService
//	daemonset/UnavailablePods   daemonset/NotScheduled   daemonset/Misscheduled
//	job/Failed/<BackoffLimitExceeded|DeadlineExceeded|…>   cronjob/LastJobFailed/<reason>
//	pvc/Pending[/<warning reason, e.g. ProvisioningFailed>]   pvc/Lost
//	service/NoEndpoints/NoMatchingPods   service/NoReadyEndpoints
//	ingress/MissingBackendService   ingress/MissingBackendPort   ingress/MissingIngressClass
//	node/NotReady/<reason>   node/<MemoryPressure|DiskPressure|PIDPressure|NetworkUnavailable>
//	hpa/PinnedAtMax   hpa/ScalingInactive/<reason>   hpa/UnableToScale/<reason>
//	hpa/MissingScaleTarget   hpa/MissingResourceRequests/<Cpu|Memory>
//	event/<Reason>/<Kind>
func Default() []Analyzer {
	return []Analyzer{
		&Pod{}, Deployment{}, ReplicaSet{}, StatefulSet{}, DaemonSet{}, Job{}, CronJob{},
		PVC{}, Service{}, Ingress{}, Node{}, HPA{}, Events{},
	}
}
