package analyze_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/spoke/analyze"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

func TestPodAnalyzer(t *testing.T) {
	ns := namespace(t, "pod-analyzer")
	a := &analyze.Pod{NotReadyGrace: time.Second}
	container := func(name string) []corev1.Container { return []corev1.Container{{Name: name, Image: name + ":v1"}} }
	now := time.Now()
	tests := []struct {
		name string
		// setup creates the pod (or what makes it) and returns its namespace and name.
		setup func(t *testing.T) (string, string)
		want  []string
		check func(t *testing.T, fs map[string]*fleetv1.Finding)
	}{
		{
			name: "crash loop after a rollout, with the previous container's log and the change",
			setup: func(t *testing.T) (string, string) {
				return logsNamespace, crashAfterRollout(t)
			},
			want: []string{"pod/CrashLoopBackOff/Error"},
			check: func(t *testing.T, fs map[string]*fleetv1.Finding) {
				f := fs["pod/CrashLoopBackOff/Error"]
				assert.Equal(t, fleetv1.Severity_SEVERITY_HIGH, f.Severity)
				require.NotEmpty(t, evidence(f, analyze.EvidenceStatus))
				assert.Contains(t, evidence(f, analyze.EvidenceStatus)[0].Detail, "exit code 1")
				logs := evidence(f, analyze.EvidenceLog)
				require.Len(t, logs, 1)
				assert.Contains(t, logs[0].Summary, "(previous)")
				assert.Contains(t, logs[0].Detail, `panic: config key "db.url" missing`)
				assert.Contains(t, logs[0].Detail, "password=[REDACTED]")
				assert.NotContains(t, logs[0].Detail, "hunter2", "secrets are redacted from logs")
				d := changeDetail(t, f)
				assert.Equal(t, "Deployment", d.Owner.Kind)
				assert.Equal(t, "web", d.Owner.Name)
				assert.Equal(t, int64(1), d.FromRevision)
				assert.Equal(t, int64(2), d.ToRevision)
				assert.False(t, d.ChangedAt.IsZero())
				assert.Contains(t, d.Changes, analyze.Change{Field: "image", Container: "app", From: "app:v1", To: "app:v2"})
				assert.Contains(t, d.Changes, analyze.Change{Field: "env", Container: "app", Name: "MODE", From: "safe", To: "fast"})
				assert.Contains(t, d.Changes, analyze.Change{Field: "env", Container: "app", Name: "DB_PASSWORD", From: "secretKeyRef:db/password", To: "[REDACTED]"})
				assert.Contains(t, d.Changes, analyze.Change{Field: "resources", Container: "app", Name: "limits.memory", From: "128Mi", To: "64Mi"})
				assert.NotContains(t, evidence(f, analyze.EvidenceChange)[0].Detail, "s3cret", "literal secret values never appear")
			},
		},
		{
			name: "OOM killed container in a crash loop (kwok stage); logs unavailable on a node without address",
			setup: func(t *testing.T) (string, string) {
				create(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "oom", Namespace: ns, Labels: map[string]string{testbed.InjectLabel: "oomkilled"}},
					Spec: corev1.PodSpec{Containers: container("oom")}})
				return ns, "oom"
			},
			want: []string{"pod/CrashLoopBackOff/OOMKilled"},
			check: func(t *testing.T, fs map[string]*fleetv1.Finding) {
				logs := evidence(fs["pod/CrashLoopBackOff/OOMKilled"], analyze.EvidenceLog)
				require.Len(t, logs, 1)
				assert.True(t, strings.HasPrefix(logs[0].Summary, "logs unavailable"), logs[0].Summary)
				assert.NotEmpty(t, logs[0].Detail, "says why")
			},
		},
		{
			name: "unschedulable, with the scheduler's reason",
			setup: func(t *testing.T) (string, string) {
				create(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "huge", Namespace: ns},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:v1",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000")}}}}}})
				return ns, "huge"
			},
			want: []string{"pod/Unschedulable/InsufficientCPU"},
			check: func(t *testing.T, fs map[string]*fleetv1.Finding) {
				st := evidence(fs["pod/Unschedulable/InsufficientCPU"], analyze.EvidenceStatus)
				require.NotEmpty(t, st)
				assert.Contains(t, st[0].Detail, "Insufficient cpu")
			},
		},
		{
			// The image pull failures, OOM kill, restarts and probes below are kubelet reports
			// kwok does not make: the pods sit on a node kwok leaves alone and the test writes
			// their status through the status subresource, as a kubelet would.
			name: "image pull back-off",
			setup: func(t *testing.T) (string, string) {
				handsOffPod(t, ns, "pull", corev1.PodSpec{Containers: container("pull")}, corev1.PodStatus{Phase: corev1.PodPending,
					ContainerStatuses: []corev1.ContainerStatus{{Name: "pull", Image: "pull:v1", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
						Reason: "ImagePullBackOff", Message: `Back-off pulling image "pull:v1": manifest unknown: manifest unknown`}}}}}, nil)
				return ns, "pull"
			},
			want: []string{"pod/ImagePullBackOff/NotFound"},
		},
		{
			name: "restarted after an OOM kill",
			setup: func(t *testing.T) (string, string) {
				handsOffPod(t, ns, "oom-restarted", corev1.PodSpec{Containers: container("app")}, corev1.PodStatus{Phase: corev1.PodRunning,
					ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "app:v1", Ready: true, RestartCount: 1, State: running(now.Add(-time.Minute)),
						LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137,
							FinishedAt: metav1.NewTime(now.Add(-time.Minute))}}}}}, nil)
				return ns, "oom-restarted"
			},
			want: []string{"pod/OOMKilled"},
		},
		{
			name: "restarting often",
			setup: func(t *testing.T) (string, string) {
				handsOffPod(t, ns, "flappy", corev1.PodSpec{Containers: container("app")}, corev1.PodStatus{Phase: corev1.PodRunning,
					ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "app:v1", Ready: true, RestartCount: 7, State: running(now.Add(-time.Minute)),
						LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 2,
							FinishedAt: metav1.NewTime(now.Add(-time.Minute))}}}}}, nil)
				return ns, "flappy"
			},
			want: []string{"pod/Restarting/Error"},
		},
		{
			name: "readiness probe failing: running, not ready",
			setup: func(t *testing.T) (string, string) {
				spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:v1",
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intOrString(8080)}}}}}}
				handsOffPod(t, ns, "unready", spec, corev1.PodStatus{Phase: corev1.PodRunning,
					Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady"}},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "app:v1", State: running(now.Add(-10 * time.Minute))}}}, nil)
				return ns, "unready"
			},
			want: []string{"pod/ProbeFailing/Readiness"},
		},
		{
			name: "liveness probe failing, from the kubelet's Unhealthy events",
			setup: func(t *testing.T) (string, string) {
				pod := handsOffPod(t, ns, "unlively", corev1.PodSpec{Containers: container("app")}, corev1.PodStatus{Phase: corev1.PodRunning,
					ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "app:v1", Ready: true, State: running(now.Add(-time.Minute))}}}, nil)
				warn(t, pod, "Pod", "v1", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500", 4, time.Now())
				return ns, "unlively"
			},
			want: []string{"pod/ProbeFailing/Liveness"},
			check: func(t *testing.T, fs map[string]*fleetv1.Finding) {
				ev := evidence(fs["pod/ProbeFailing/Liveness"], analyze.EvidenceEvent)
				require.NotEmpty(t, ev)
				assert.Contains(t, ev[0].Detail, "statuscode: 500")
			},
		},
		{
			name: "healthy pod",
			setup: func(t *testing.T) (string, string) {
				pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "fine", Namespace: ns}, Spec: corev1.PodSpec{Containers: container("fine")}}
				create(t, pod)
				awaitPodReady(t, pod)
				return ns, "fine"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pns, name := tt.setup(t)
			fs := awaitFindings(t, a, input(), "Pod", pns, name, tt.want)
			if tt.check != nil {
				tt.check(t, fs)
			}
		})
	}
}

// crashAfterRollout rolls Deployment web from a healthy v1 to a v2 that crash-loops (kwok's
// crash stage, selected by the template's label) and returns the name of a v2 pod. Its pods
// run on the node whose logs kwok serves.
func crashAfterRollout(t *testing.T) string {
	ctx := context.Background()
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: logsNamespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{NodeName: logsNodeName, Tolerations: tolerateAll, Containers: []corev1.Container{{
					Name: "app", Image: "app:v1",
					Env: []corev1.EnvVar{{Name: "MODE", Value: "safe"}, {Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{
						SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}}},
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}},
				}}},
			},
		},
	}
	create(t, dep)
	require.Eventually(t, func() bool {
		cur := &appsv1.Deployment{}
		return kube.Get(ctx, client.ObjectKeyFromObject(dep), cur) == nil && cur.Status.AvailableReplicas == 1 && cur.Status.ObservedGeneration == cur.Generation
	}, time.Minute, 200*time.Millisecond, "v1 available")
	require.NoError(t, retryUpdate(dep, func() {
		dep.Spec.Replicas = ptr(int32(2))
		tpl := &dep.Spec.Template
		tpl.Labels[testbed.InjectLabel] = "crashloop"
		c := &tpl.Spec.Containers[0]
		c.Image = "app:v2"
		c.Env = []corev1.EnvVar{{Name: "MODE", Value: "fast"}, {Name: "DB_PASSWORD", Value: "s3cret"}}
		c.Resources.Limits[corev1.ResourceMemory] = resource.MustParse("64Mi")
	}))
	var name string
	require.Eventually(t, func() bool {
		var pods corev1.PodList
		if kube.List(ctx, &pods, client.InNamespace(logsNamespace), client.MatchingLabels{testbed.InjectLabel: "crashloop", "app": "web"}) != nil {
			return false
		}
		for _, p := range pods.Items {
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" {
					name = p.Name
					return true
				}
			}
		}
		return false
	}, time.Minute, 200*time.Millisecond, "a v2 pod crash-loops")
	return name
}

// retryUpdate applies change to the latest version of obj until the update does not conflict.
func retryUpdate(obj client.Object, change func()) error {
	ctx := context.Background()
	var err error
	for range 20 {
		if err = kube.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change()
		if err = kube.Update(ctx, obj); err == nil {
			return nil
		}
	}
	return err
}

func awaitPodReady(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	require.Eventually(t, func() bool {
		cur := &corev1.Pod{}
		if reader.Get(context.Background(), client.ObjectKeyFromObject(pod), cur) != nil {
			return false
		}
		for _, c := range cur.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	}, time.Minute, 200*time.Millisecond, "pod %s ready", pod.Name)
}

// warn records a Warning event about obj, as a controller or kubelet would.
func warn(t *testing.T, obj client.Object, kind, apiVersion, reason, message string, count int32, at time.Time) *corev1.Event {
	t.Helper()
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: obj.GetName() + ".", Namespace: or(obj.GetNamespace(), "default")},
		InvolvedObject: corev1.ObjectReference{Kind: kind, APIVersion: apiVersion, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID()},
		Type:           corev1.EventTypeWarning, Reason: reason, Message: message, Count: count,
		FirstTimestamp: metav1.NewTime(at.Add(-time.Minute)), LastTimestamp: metav1.NewTime(at),
		Source: corev1.EventSource{Component: "kubelet"},
	}
	create(t, ev)
	return ev
}

// awaitCached waits until the cache holds obj, so a test that expects no finding about it
// knows the analyzer has seen it.
func awaitCached(t *testing.T, obj client.Object) {
	t.Helper()
	require.Eventually(t, func() bool {
		cur := obj.DeepCopyObject().(client.Object)
		return reader.Get(context.Background(), client.ObjectKeyFromObject(obj), cur) == nil
	}, 30*time.Second, 100*time.Millisecond, "cache has %s", obj.GetName())
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
