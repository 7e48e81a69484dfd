package analyze_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubedevaiops/kubedevaiops/spoke/analyze"
)

// The HPA controller runs in the test bed without a metrics API, so every resource metric
// fails to read (ScalingActive=False, FailedGetResourceMetric) — itself a finding.
func TestHPAAnalyzer(t *testing.T) {
	ns := namespace(t, "hpa-analyzer")
	a := analyze.HPA{}
	deployment := func(name string, replicas int32, cpuRequest bool) *appsv1.Deployment {
		tpl := podTemplate(name, "app:v1", "")
		if cpuRequest {
			tpl.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}
		}
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: selector(name), Template: tpl}}
	}
	cpu := []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(80))}}}}
	hpa := func(name, target string, min, max int32) *autoscalingv2.HorizontalPodAutoscaler {
		return &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
				MinReplicas:    &min, MaxReplicas: max, Metrics: cpu}}
	}
	tests := []struct {
		name string
		dep  *appsv1.Deployment
		hpa  *autoscalingv2.HorizontalPodAutoscaler
		want []string
		// await is a condition the controller sets before a case that expects nothing is judged
		await autoscalingv2.HorizontalPodAutoscalerConditionType
	}{
		{name: "scale target missing", hpa: hpa("orphan", "nosuch", 1, 3), want: []string{"hpa/MissingScaleTarget"}},
		{
			name: "cpu utilization without cpu requests",
			dep:  deployment("norequests", 1, false), hpa: hpa("norequests", "norequests", 1, 3),
			want: []string{"hpa/MissingResourceRequests/Cpu", "hpa/ScalingInactive/FailedGetResourceMetric"},
		},
		{
			// The target runs more replicas than the maximum: the controller scales it to the
			// maximum, and there it stays.
			name: "pinned at its maximum",
			dep:  deployment("pinned", 5, true), hpa: hpa("pinned", "pinned", 1, 3),
			want: []string{"hpa/PinnedAtMax", "hpa/ScalingInactive/FailedGetResourceMetric"},
		},
		{
			name: "target scaled to zero: autoscaling is off, nothing to report",
			dep:  deployment("zero", 0, true), hpa: hpa("zero", "zero", 1, 3), await: autoscalingv2.ScalingActive,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.dep != nil {
				create(t, tt.dep)
			}
			create(t, tt.hpa)
			if tt.await != "" {
				require.Eventually(t, func() bool {
					cur := &autoscalingv2.HorizontalPodAutoscaler{}
					if reader.Get(context.Background(), client.ObjectKeyFromObject(tt.hpa), cur) != nil {
						return false
					}
					for _, c := range cur.Status.Conditions {
						if c.Type == tt.await {
							return true
						}
					}
					return false
				}, time.Minute, 200*time.Millisecond, "the controller sets %s", tt.await)
			}
			awaitFindings(t, a, input(), "HorizontalPodAutoscaler", ns, tt.hpa.Name, tt.want)
		})
	}
}
