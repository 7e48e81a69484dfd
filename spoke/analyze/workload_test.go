package analyze_test

import (
	"context"
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

// podTemplate is a one-container template; inject selects a kwok failure stage ("" for none).
func podTemplate(app, image, inject string) corev1.PodTemplateSpec {
	labels := map[string]string{"app": app}
	if inject != "" {
		labels[testbed.InjectLabel] = inject
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{NodeSelector: map[string]string{"kubernetes.io/hostname": defaultNode},
			Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

// unschedulable makes a template's pods request more CPU than any node has, so they never
// start (a rollout of kwok-crashing pods would not do: they are ready for a moment first, and a
// complete rollout has no deadline to miss).
func unschedulable(t corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	t.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000")}
	return t
}

func selector(app string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
}

// quotaNamespace is a namespace where no pod may be created.
func quotaNamespace(t *testing.T, name string) string {
	ns := namespace(t, name)
	create(t, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "no-pods", Namespace: ns},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}}})
	// Admission enforces the quota once the quota controller has filled in its status.
	require.Eventually(t, func() bool {
		q := &corev1.ResourceQuota{}
		return kube.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "no-pods"}, q) == nil && q.Status.Hard != nil
	}, time.Minute, 200*time.Millisecond)
	return ns
}

func TestDeploymentAnalyzer(t *testing.T) {
	ns := namespace(t, "deployment-analyzer")
	quota := quotaNamespace(t, "deployment-analyzer-quota")
	a := analyze.Deployment{Grace: time.Nanosecond}
	tests := []struct {
		name  string
		dep   *appsv1.Deployment
		want  []string
		check func(t *testing.T, fs map[string]*fleetv1.Finding)
	}{
		{
			name: "rollout past its progress deadline with no replica available",
			dep: &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "stuck", Namespace: ns}, Spec: appsv1.DeploymentSpec{
				Replicas: ptr(int32(2)), ProgressDeadlineSeconds: ptr(int32(1)), Selector: selector("stuck"), Template: unschedulable(podTemplate("stuck", "app:v1", ""))}},
			want: []string{"deployment/ProgressDeadlineExceeded", "deployment/UnavailableReplicas"},
			check: func(t *testing.T, fs map[string]*fleetv1.Finding) {
				assert.Equal(t, fleetv1.Severity_SEVERITY_HIGH, fs["deployment/UnavailableReplicas"].Severity, "none available")
				assert.Contains(t, evidence(fs["deployment/ProgressDeadlineExceeded"], analyze.EvidenceStatus)[0].Summary, "ProgressDeadlineExceeded")
			},
		},
		{
			name: "replicas cannot be created (quota)",
			dep: &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "quota", Namespace: quota}, Spec: appsv1.DeploymentSpec{
				Replicas: ptr(int32(1)), Selector: selector("quota"), Template: podTemplate("quota", "app:v1", "")}},
			want: []string{"deployment/ReplicaFailure/FailedCreate", "deployment/UnavailableReplicas"},
		},
		{
			name: "healthy",
			dep: &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "fine", Namespace: ns}, Spec: appsv1.DeploymentSpec{
				Replicas: ptr(int32(2)), Selector: selector("fine"), Template: podTemplate("fine", "app:v1", "")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			create(t, tt.dep)
			if tt.want == nil {
				awaitAvailable(t, tt.dep)
			}
			fs := awaitFindings(t, a, input(), "Deployment", tt.dep.Namespace, tt.dep.Name, tt.want)
			if tt.check != nil {
				tt.check(t, fs)
			}
		})
	}
}

func awaitAvailable(t *testing.T, dep *appsv1.Deployment) {
	t.Helper()
	require.Eventually(t, func() bool {
		cur := &appsv1.Deployment{}
		return reader.Get(context.Background(), client.ObjectKeyFromObject(dep), cur) == nil &&
			cur.Status.ObservedGeneration == cur.Generation && cur.Status.AvailableReplicas == *cur.Spec.Replicas
	}, time.Minute, 200*time.Millisecond, "deployment %s available", dep.Name)
}

func TestReplicaSetAnalyzer(t *testing.T) {
	ns := namespace(t, "replicaset-analyzer")
	quota := quotaNamespace(t, "replicaset-analyzer-quota")
	a := analyze.ReplicaSet{Grace: time.Nanosecond}
	tests := []struct {
		name string
		rs   *appsv1.ReplicaSet
		want []string
	}{
		{
			name: "pods cannot be created (quota)",
			rs: &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "quota", Namespace: quota}, Spec: appsv1.ReplicaSetSpec{
				Replicas: ptr(int32(1)), Selector: selector("quota"), Template: podTemplate("quota", "app:v1", "")}},
			want: []string{"replicaset/ReplicaFailure/FailedCreate", "replicaset/UnavailableReplicas"},
		},
		{
			name: "standalone, pods crash",
			rs: &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "crash", Namespace: ns}, Spec: appsv1.ReplicaSetSpec{
				Replicas: ptr(int32(1)), Selector: selector("crash"), Template: podTemplate("crash", "app:v1", "crashloop")}},
			want: []string{"replicaset/UnavailableReplicas"},
		},
		{
			name: "healthy",
			rs: &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "fine", Namespace: ns}, Spec: appsv1.ReplicaSetSpec{
				Replicas: ptr(int32(1)), Selector: selector("fine"), Template: podTemplate("fine", "app:v1", "")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			create(t, tt.rs)
			if tt.want == nil {
				require.Eventually(t, func() bool {
					cur := &appsv1.ReplicaSet{}
					return reader.Get(context.Background(), client.ObjectKeyFromObject(tt.rs), cur) == nil && cur.Status.ReadyReplicas == 1
				}, time.Minute, 200*time.Millisecond)
			}
			awaitFindings(t, a, input(), "ReplicaSet", tt.rs.Namespace, tt.rs.Name, tt.want)
		})
	}
}

func TestStatefulSetAnalyzer(t *testing.T) {
	ns := namespace(t, "statefulset-analyzer")
	a := analyze.StatefulSet{Grace: time.Nanosecond}
	create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "db"}, Ports: []corev1.ServicePort{{Port: 5432}}}})
	sts := func(name, svc, inject string) *appsv1.StatefulSet {
		return &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: appsv1.StatefulSetSpec{
			Replicas: ptr(int32(1)), ServiceName: svc, Selector: selector(name), Template: podTemplate(name, "db:v1", inject)}}
	}
	tests := []struct {
		name   string
		sts    *appsv1.StatefulSet
		update func(s *appsv1.StatefulSet) // a rollout after the first revision is ready
		want   []string
		check  func(t *testing.T, fs map[string]*fleetv1.Finding)
	}{
		{
			name: "rolled to a crashing revision, with the ControllerRevision change",
			sts:  sts("db", "db", ""),
			update: func(s *appsv1.StatefulSet) {
				s.Spec.Template.Labels[testbed.InjectLabel] = "crashloop"
				s.Spec.Template.Spec.Containers[0].Image = "db:v2"
			},
			want: []string{"statefulset/UnavailableReplicas"},
			check: func(t *testing.T, fs map[string]*fleetv1.Finding) {
				d := changeDetail(t, fs["statefulset/UnavailableReplicas"])
				assert.Equal(t, "StatefulSet", d.Owner.Kind)
				assert.Equal(t, int64(1), d.FromRevision)
				assert.Equal(t, int64(2), d.ToRevision)
				assert.Contains(t, d.Changes, analyze.Change{Field: "image", Container: "app", From: "db:v1", To: "db:v2"})
			},
		},
		{
			name: "governing service missing",
			sts:  sts("orphan", "nosuch", ""),
			want: []string{"statefulset/MissingService"},
		},
		{
			name: "healthy",
			sts:  sts("fine", "db", ""),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			create(t, tt.sts)
			if tt.update != nil || tt.want == nil {
				require.Eventually(t, func() bool {
					cur := &appsv1.StatefulSet{}
					return reader.Get(context.Background(), client.ObjectKeyFromObject(tt.sts), cur) == nil && cur.Status.ReadyReplicas == 1
				}, time.Minute, 200*time.Millisecond)
			}
			if tt.update != nil {
				require.NoError(t, retryUpdate(tt.sts, func() { tt.update(tt.sts) }))
			}
			fs := awaitFindings(t, a, input(), "StatefulSet", ns, tt.sts.Name, tt.want)
			if tt.check != nil {
				tt.check(t, fs)
			}
		})
	}
}

func TestDaemonSetAnalyzer(t *testing.T) {
	ns := namespace(t, "daemonset-analyzer")
	a := analyze.DaemonSet{Grace: time.Nanosecond}
	ds := func(name, inject string) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: appsv1.DaemonSetSpec{
			Selector: selector(name), Template: podTemplate(name, "agent:v1", inject)}}
	}
	tests := []struct {
		name   string
		ds     *appsv1.DaemonSet
		update func(d *appsv1.DaemonSet) // a rollout after the first revision is available
		want   []string
		check  func(t *testing.T, fs map[string]*fleetv1.Finding)
	}{
		{name: "pods crash", ds: ds("crash", "crashloop"), want: []string{"daemonset/UnavailablePods"}},
		{
			name: "rolled to a crashing revision, with the ControllerRevision change",
			ds:   ds("rolled", ""),
			update: func(d *appsv1.DaemonSet) {
				d.Spec.Template.Labels[testbed.InjectLabel] = "crashloop"
				d.Spec.Template.Spec.Containers[0].Image = "agent:v2"
			},
			want: []string{"daemonset/UnavailablePods"},
			check: func(t *testing.T, fs map[string]*fleetv1.Finding) {
				d := changeDetail(t, fs["daemonset/UnavailablePods"])
				assert.Equal(t, "DaemonSet", d.Owner.Kind)
				assert.Equal(t, int64(1), d.FromRevision)
				assert.Equal(t, int64(2), d.ToRevision)
				assert.Contains(t, d.Changes, analyze.Change{Field: "image", Container: "app", From: "agent:v1", To: "agent:v2"})
			},
		},
		{name: "healthy", ds: ds("fine", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			create(t, tt.ds)
			if tt.want == nil || tt.update != nil {
				require.Eventually(t, func() bool {
					cur := &appsv1.DaemonSet{}
					return reader.Get(context.Background(), client.ObjectKeyFromObject(tt.ds), cur) == nil &&
						cur.Status.DesiredNumberScheduled == 1 && cur.Status.NumberAvailable == 1
				}, time.Minute, 200*time.Millisecond)
			}
			if tt.update != nil {
				require.NoError(t, retryUpdate(tt.ds, func() { tt.update(tt.ds) }))
			}
			fs := awaitFindings(t, a, input(), "DaemonSet", ns, tt.ds.Name, tt.want)
			if tt.check != nil {
				tt.check(t, fs)
			}
		})
	}
}
