package analyze_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubedevaiops/kubedevaiops/spoke/analyze"
)

func service(ns, name string, sel map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
}

func TestServiceAnalyzer(t *testing.T) {
	ns := namespace(t, "service-analyzer")
	a := analyze.Service{Grace: time.Nanosecond}
	tests := []struct {
		name  string
		setup func(t *testing.T)
		svc   *corev1.Service
		want  []string
	}{
		{
			name: "selector matches no pod",
			svc:  service(ns, "nobody", map[string]string{"app": "nobody"}),
			want: []string{"service/NoEndpoints/NoMatchingPods"},
		},
		{
			// A running pod that is not ready: its status is written by the test on the
			// hands-off node, as the kubelet of a pod failing its readiness probe would.
			name: "matching pod not ready",
			setup: func(t *testing.T) {
				handsOffPod(t, ns, "unready", corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:v1"}}}, corev1.PodStatus{
					Phase: corev1.PodRunning, PodIP: "10.0.0.200", PodIPs: []corev1.PodIP{{IP: "10.0.0.200"}},
					Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "app:v1", State: running(time.Now())}}},
					map[string]string{"app": "unready"})
			},
			svc:  service(ns, "unready", map[string]string{"app": "unready"}),
			want: []string{"service/NoReadyEndpoints"},
		},
		{
			name: "ready pod behind it",
			setup: func(t *testing.T) {
				pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ready", Namespace: ns, Labels: map[string]string{"app": "ready"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:v1"}}}}
				create(t, pod)
				awaitPodReady(t, pod)
			},
			svc: service(ns, "ready", map[string]string{"app": "ready"}),
		},
		{
			name: "no selector: endpoints are managed by hand",
			svc:  service(ns, "manual", nil),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup(t)
			}
			create(t, tt.svc)
			awaitCached(t, tt.svc)
			awaitFindings(t, a, input(), "Service", ns, tt.svc.Name, tt.want)
		})
	}
}

func TestIngressAnalyzer(t *testing.T) {
	ns := namespace(t, "ingress-analyzer")
	a := analyze.Ingress{}
	create(t, service(ns, "web", map[string]string{"app": "web"}))
	create(t, &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "ingress-analyzer"}, Spec: networkingv1.IngressClassSpec{Controller: "example.com/ingress"}})
	ingress := func(name, class, svc string, port networkingv1.ServiceBackendPort) *networkingv1.Ingress {
		return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			Rules: []networkingv1.IngressRule{{Host: "shop.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr(networkingv1.PathTypePrefix),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: port}}}}}}}}}}
	}
	http := networkingv1.ServiceBackendPort{Name: "http"}
	tests := []struct {
		name string
		ing  *networkingv1.Ingress
		want []string
	}{
		{name: "backend service missing", ing: ingress("gone", "ingress-analyzer", "nosuch", http), want: []string{"ingress/MissingBackendService"}},
		{name: "backend port missing", ing: ingress("port", "ingress-analyzer", "web", networkingv1.ServiceBackendPort{Number: 8443}), want: []string{"ingress/MissingBackendPort"}},
		{name: "ingress class missing", ing: ingress("class", "nosuch-class", "web", http), want: []string{"ingress/MissingIngressClass"}},
		{name: "healthy", ing: ingress("fine", "ingress-analyzer", "web", networkingv1.ServiceBackendPort{Number: 80})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			create(t, tt.ing)
			awaitCached(t, tt.ing)
			awaitFindings(t, a, input(), "Ingress", ns, tt.ing.Name, tt.want)
		})
	}
}
