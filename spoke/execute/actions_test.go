package execute

import (
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Each action type, on real objects: it applies, verifies, and reports before / after.

func TestRestartWorkload(t *testing.T) {
	t.Parallel()
	c := kube(t)
	ns := namespace(t, c)
	d := newDeployment(t, c, ns, "web", 2, "web:1", false)
	rec := &recorder{}

	st := engine(t, c, ns, nil).Execute(testContext(t), directive("RestartWorkload", ref(t, c, d, true), map[string]string{"verifyStableFor": "2s"}), rec.report)

	requirePhase(t, st, phaseSucceeded, ReasonVerified)
	require.Equal(t, success, rec.got())
	after := get(t, c, d)
	require.NotEmpty(t, after.Spec.Template.Annotations[RestartedAtAnnotation])
	require.Equal(t, d.Generation+1, after.Generation)
	require.Empty(t, decodeInto[appsv1.Deployment](t, st.BeforeJson).Spec.Template.Annotations[RestartedAtAnnotation])
	require.NotEmpty(t, decodeInto[appsv1.Deployment](t, st.AfterJson).Spec.Template.Annotations[RestartedAtAnnotation])
	done, _, err := rolloutDone(after)
	require.NoError(t, err)
	require.True(t, done)
}

func TestScaleWorkload(t *testing.T) {
	t.Parallel()
	c := kube(t)
	ns := namespace(t, c)
	d := newDeployment(t, c, ns, "web", 1, "web:1", false)

	st := engine(t, c, ns, nil).Execute(testContext(t), directive("ScaleWorkload", ref(t, c, d, true), map[string]string{"replicas": "3", "verifyStableFor": "2s"}), nil)

	requirePhase(t, st, phaseSucceeded, ReasonVerified)
	after := get(t, c, d)
	require.Equal(t, int32(3), *after.Spec.Replicas)
	require.Equal(t, int32(3), after.Status.AvailableReplicas)
	require.Equal(t, int32(1), *decodeInto[appsv1.Deployment](t, st.BeforeJson).Spec.Replicas)
	require.Equal(t, int32(3), *decodeInto[appsv1.Deployment](t, st.AfterJson).Spec.Replicas)
}

func TestSetResources(t *testing.T) {
	t.Parallel()
	c := kube(t)
	ns := namespace(t, c)
	d := newDeployment(t, c, ns, "web", 2, "web:1", false)

	st := engine(t, c, ns, nil).Execute(testContext(t), directive("SetResources", ref(t, c, d, true), map[string]string{
		"container": "app", "cpuRequest": "100m", "cpuLimit": "500m", "memoryRequest": "128Mi", "memoryLimit": "256Mi", "verifyStableFor": "2s",
	}), nil)

	requirePhase(t, st, phaseSucceeded, ReasonVerified)
	res := get(t, c, d).Spec.Template.Spec.Containers[0].Resources
	require.True(t, resource.MustParse("100m").Equal(res.Requests[corev1.ResourceCPU]))
	require.True(t, resource.MustParse("500m").Equal(res.Limits[corev1.ResourceCPU]))
	require.True(t, resource.MustParse("128Mi").Equal(res.Requests[corev1.ResourceMemory]))
	require.True(t, resource.MustParse("256Mi").Equal(res.Limits[corev1.ResourceMemory]))
}

// Rolling a Deployment back to its previous revision restores the previous image, as kubectl
// rollout undo does; toRevision picks an older one.
func TestRollbackDeployment(t *testing.T) {
	t.Parallel()
	c := kube(t)
	ns := namespace(t, c)
	ctx := testContext(t)
	d := newDeployment(t, c, ns, "web", 2, "web:1", false)
	for _, image := range []string{"web:2", "web:3"} {
		update(t, c, d, func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image })
		awaitRollout(t, c, d)
	}
	e := engine(t, c, ns, nil)

	st := e.Execute(ctx, directive("RollbackWorkload", ref(t, c, get(t, c, d), false), map[string]string{"verifyStableFor": "2s"}), nil)
	requirePhase(t, st, phaseSucceeded, ReasonVerified)
	require.Equal(t, "web:2", get(t, c, d).Spec.Template.Spec.Containers[0].Image)
	require.Equal(t, "web:3", decodeInto[appsv1.Deployment](t, st.BeforeJson).Spec.Template.Spec.Containers[0].Image)

	st = e.Execute(ctx, directive("RollbackWorkload", ref(t, c, get(t, c, d), false), map[string]string{"toRevision": "1", "verifyStableFor": "2s"}), nil)
	requirePhase(t, st, phaseSucceeded, ReasonVerified)
	require.Equal(t, "web:1", get(t, c, d).Spec.Template.Spec.Containers[0].Image)

	// The revision in use cannot be the target.
	cur := get(t, c, d).Annotations[RevisionAnnotation]
	st = e.Execute(ctx, directive("RollbackWorkload", ref(t, c, d, false), map[string]string{"toRevision": cur}), nil)
	requirePhase(t, st, phaseFailed, ReasonPrecondition)
}

func TestRollbackStatefulSet(t *testing.T) {
	t.Parallel()
	c := kube(t)
	ns := namespace(t, c)
	ctx := testContext(t)
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](2), ServiceName: "db",
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: podTemplateFor("db", "db:1", false),
		},
	}
	require.NoError(t, c.Create(ctx, sts))
	awaitRollout(t, c, sts)
	update(t, c, sts, func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "db:2" })
	awaitRollout(t, c, sts)

	st := engine(t, c, ns, nil).Execute(ctx, directive("RollbackWorkload", ref(t, c, get(t, c, sts), false), map[string]string{"verifyStableFor": "2s"}), nil)

	requirePhase(t, st, phaseSucceeded, ReasonVerified)
	require.Equal(t, "db:1", get(t, c, sts).Spec.Template.Spec.Containers[0].Image)
}

// Deleting a stuck pod: its ReplicaSet replaces it, and verification waits for the replacement.
func TestDeletePod(t *testing.T) {
	t.Parallel()
	c := kube(t)
	ns := namespace(t, c)
	ctx := testContext(t)
	newDeployment(t, c, ns, "web", 2, "web:1", false)
	var pods corev1.PodList
	require.NoError(t, c.List(ctx, &pods, client.InNamespace(ns)))
	require.Len(t, pods.Items, 2)
	victim := &pods.Items[0]

	st := engine(t, c, ns, nil).Execute(ctx, directive("DeletePod", ref(t, c, victim, true), map[string]string{"gracePeriodSeconds": "0", "verifyStableFor": "2s"}), nil)

	requirePhase(t, st, phaseSucceeded, ReasonVerified)
	require.NoError(t, c.List(ctx, &pods, client.InNamespace(ns)))
	var ready int
	for i := range pods.Items {
		require.NotEqual(t, victim.UID, pods.Items[i].UID, "the deleted pod is gone")
		if podReady(&pods.Items[i]) {
			ready++
		}
	}
	require.Equal(t, 2, ready)
	require.Equal(t, victim.Name, decodeInto[corev1.Pod](t, st.BeforeJson).Name)

	// A pod nothing would replace is refused.
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: ns}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x"}}}}
	require.NoError(t, c.Create(ctx, bare))
	st = engine(t, c, ns, nil).Execute(ctx, directive("DeletePod", ref(t, c, bare, false), nil), nil)
	requirePhase(t, st, phaseFailed, ReasonUnsupportedTarget)
	get(t, c, bare)
}

func TestApplyManifests(t *testing.T) {
	t.Parallel()
	c := kube(t)
	ns := namespace(t, c)
	ctx := testContext(t)
	manifests := `
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  mode: safe
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: web:1
`
	target := ref(t, c, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}}, false)

	st := engine(t, c, ns, nil).Execute(ctx, directive("ApplyManifests", target, map[string]string{"manifests": manifests, "verifyStableFor": "2s"}), nil)

	requirePhase(t, st, phaseSucceeded, ReasonVerified)
	var cm corev1.ConfigMap
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-config"}, &cm))
	require.Equal(t, "safe", cm.Data["mode"])
	require.True(t, managedBy(&cm, FieldManager))
	d := get(t, c, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}})
	require.Equal(t, int32(2), d.Status.AvailableReplicas)
	require.Equal(t, []any{nil, nil}, decodeInto[[]any](t, st.BeforeJson), "neither object existed")
	require.Len(t, decodeInto[[]any](t, st.AfterJson), 2)
}

func TestPatchHPA(t *testing.T) {
	t.Parallel()
	c := kube(t)
	ns := namespace(t, c)
	ctx := testContext(t)
	d := newDeployment(t, c, ns, "web", 1, "web:1", false)
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name},
			MinReplicas:    ptr.To[int32](1), MaxReplicas: 3,
		},
	}
	require.NoError(t, c.Create(ctx, hpa))

	// The HPA controller has no metrics here, but it still lifts the workload to minReplicas.
	st := engine(t, c, ns, nil).Execute(ctx, directive("PatchHPA", ref(t, c, hpa, false), map[string]string{"minReplicas": "2", "maxReplicas": "4", "verifyStableFor": "2s"}), nil)

	requirePhase(t, st, phaseSucceeded, ReasonVerified)
	hpa = get(t, c, hpa)
	require.Equal(t, int32(2), *hpa.Spec.MinReplicas)
	require.Equal(t, int32(4), hpa.Spec.MaxReplicas)
	require.Equal(t, int32(2), *get(t, c, d).Spec.Replicas)

	// Scaling a workload an HPA owns is refused: the HPA would undo it.
	st = engine(t, c, ns, nil).Execute(ctx, directive("ScaleWorkload", ref(t, c, d, false), map[string]string{"replicas": "3"}), nil)
	requirePhase(t, st, phaseFailed, ReasonPrecondition)
}

// DaemonSets restart and roll back through their ControllerRevisions, one pod per kwok node.
func TestDaemonSetRestartAndRollback(t *testing.T) {
	t.Parallel()
	c := kube(t)
	ns := namespace(t, c)
	ctx := testContext(t)
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: podTemplateFor("agent", "agent:1", false),
		},
	}
	require.NoError(t, c.Create(ctx, ds))
	awaitRollout(t, c, ds)
	update(t, c, ds, func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "agent:2" })
	awaitRollout(t, c, ds)
	e := engine(t, c, ns, nil)

	st := e.Execute(ctx, directive("RestartWorkload", ref(t, c, get(t, c, ds), false), map[string]string{"verifyStableFor": "1s"}), nil)
	requirePhase(t, st, phaseSucceeded, ReasonVerified)
	require.NotEmpty(t, get(t, c, ds).Spec.Template.Annotations[RestartedAtAnnotation])

	// Revisions: 1 (agent:1), 2 (agent:2), 3 (agent:2, restarted); back to 2 drops the restart.
	st = e.Execute(ctx, directive("RollbackWorkload", ref(t, c, ds, false), map[string]string{"verifyStableFor": "1s"}), nil)
	requirePhase(t, st, phaseSucceeded, ReasonVerified)
	rolled := get(t, c, ds)
	require.Equal(t, "agent:2", rolled.Spec.Template.Spec.Containers[0].Image)
	require.Empty(t, rolled.Spec.Template.Annotations[RestartedAtAnnotation])

	st = e.Execute(ctx, directive("RollbackWorkload", ref(t, c, ds, false), map[string]string{"toRevision": "1", "verifyStableFor": "1s"}), nil)
	requirePhase(t, st, phaseSucceeded, ReasonVerified)
	require.Equal(t, "agent:1", get(t, c, ds).Spec.Template.Spec.Containers[0].Image)
	require.Equal(t, int32(2), get(t, c, ds).Status.NumberAvailable, "one pod per node")
}
