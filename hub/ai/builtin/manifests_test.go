package builtin_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/builtin"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func app(name string, spec aiopsv1alpha1.ManagedApplicationSpec) *aiopsv1alpha1.ManagedApplication {
	return &aiopsv1alpha1.ManagedApplication{
		TypeMeta:   metav1.TypeMeta{APIVersion: aiopsv1alpha1.GroupVersion.String(), Kind: "ManagedApplication"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec:       spec,
	}
}

func image(repo, tag string) aiopsv1alpha1.ApplicationSource {
	return aiopsv1alpha1.ApplicationSource{Image: &aiopsv1alpha1.ImageSource{Repository: repo, Tag: tag}}
}

// golden are the applications whose manifests are pinned under testdata/NAME.yaml.
func golden() map[string]*aiopsv1alpha1.ManagedApplication {
	http := []aiopsv1alpha1.ApplicationPort{{Name: "http", ContainerPort: 8080, Protocol: aiopsv1alpha1.ProtocolTCP}}
	full := app("storefront", aiopsv1alpha1.ManagedApplicationSpec{
		Source:   image("registry.example.com/shop/storefront", "2.3.1"),
		Replicas: ptr.To[int32](3),
		Ports: []aiopsv1alpha1.ApplicationPort{{Name: "http", ContainerPort: 8080, Protocol: aiopsv1alpha1.ProtocolTCP},
			{Name: "metrics", ContainerPort: 9090, Protocol: aiopsv1alpha1.ProtocolTCP}},
		Resources: &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
		},
		Strategy: &aiopsv1alpha1.DeliveryStrategy{Type: aiopsv1alpha1.StrategyRolling, Rolling: &aiopsv1alpha1.RollingStrategy{
			MaxSurge: ptr.To(intstr.FromString("25%")), MaxUnavailable: ptr.To(intstr.FromInt32(0))}},
		HealthCheck:      &aiopsv1alpha1.HealthCheck{Path: "/healthz", InitialDelaySeconds: ptr.To[int32](5)},
		Ingress:          &aiopsv1alpha1.ApplicationIngress{Host: "shop.example.com", Path: "/", ClassName: "nginx", TLSSecretName: "shop-tls"},
		Autoscaling:      &aiopsv1alpha1.ApplicationAutoscaling{MinReplicas: ptr.To[int32](3), MaxReplicas: 12, TargetCPUUtilization: ptr.To[int32](70)},
		DisruptionBudget: &aiopsv1alpha1.DisruptionBudget{MinAvailable: ptr.To(intstr.FromString("50%"))},
		NetworkPolicy:    &aiopsv1alpha1.ApplicationNetworkPolicy{AllowFromNamespaces: []string{"monitoring", "ingress-nginx"}},
	})
	full.UID = types.UID("5f0c1c9e-7d1f-4f55-9a7e-3c2f1d1e2a10")
	return map[string]*aiopsv1alpha1.ManagedApplication{
		"minimal": app("web", aiopsv1alpha1.ManagedApplicationSpec{Source: image("nginxinc/nginx-unprivileged", "1.27"), Ports: http}),
		"full":    full,
		"digest-udp-partial-resources": app("dns-cache", aiopsv1alpha1.ManagedApplicationSpec{
			Source: aiopsv1alpha1.ApplicationSource{Image: &aiopsv1alpha1.ImageSource{Repository: "registry.example.com/infra/dns-cache",
				Digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}},
			Ports: []aiopsv1alpha1.ApplicationPort{{Name: "dns", ContainerPort: 5353, Protocol: aiopsv1alpha1.ProtocolUDP},
				{Name: "admin", ContainerPort: 8053, Protocol: aiopsv1alpha1.ProtocolTCP}},
			Resources: &corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")},
			},
			DisruptionBudget: &aiopsv1alpha1.DisruptionBudget{MaxUnavailable: ptr.To(intstr.FromInt32(1))},
			NetworkPolicy:    &aiopsv1alpha1.ApplicationNetworkPolicy{AllowSameNamespace: ptr.To(false)},
		}),
	}
}

func generate(t *testing.T, a *aiopsv1alpha1.ManagedApplication) (builtin.Manifests, []byte) {
	t.Helper()
	m, err := builtin.GenerateManifests(a)
	require.NoError(t, err)
	y, err := m.YAML()
	require.NoError(t, err)
	return m, y
}

func TestManifestsGolden(t *testing.T) {
	for name, a := range golden() {
		t.Run(name, func(t *testing.T) {
			_, y := generate(t, a)
			path := filepath.Join("testdata", name+".yaml")
			if *update {
				require.NoError(t, os.WriteFile(path, y, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./hub/ai/builtin -run TestManifestsGolden -update to create it")
			assert.Equal(t, string(want), string(y))

			// Byte-stable: again, and from a copy whose set-like lists come in another order.
			_, again := generate(t, a.DeepCopy())
			assert.Equal(t, y, again)
			if np := a.Spec.NetworkPolicy; np != nil && len(np.AllowFromNamespaces) > 1 {
				b := a.DeepCopy()
				b.Spec.NetworkPolicy.AllowFromNamespaces = []string{np.AllowFromNamespaces[1], np.AllowFromNamespaces[0]}
				_, swapped := generate(t, b)
				assert.Equal(t, y, swapped)
			}
		})
	}
}

func TestManifestsMeetBestPractices(t *testing.T) {
	for name, a := range golden() {
		t.Run(name, func(t *testing.T) {
			m, y := generate(t, a)
			objs, err := ai.ParseManifests(y, a.Namespace)
			require.NoError(t, err)
			assert.Empty(t, ai.CheckBestPractices(objs))
			require.NoError(t, ai.ValidateManifests(ai.ManifestRequest{Application: a}, ai.ManifestAnswer{YAML: y, Objects: m.Objects()}))

			d := m.Deployment
			pod := d.Spec.Template.Spec
			c := pod.Containers[0]
			assert.True(t, *pod.SecurityContext.RunAsNonRoot)
			assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, pod.SecurityContext.SeccompProfile.Type)
			assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
			assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
			assert.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
				assert.LessOrEqual(t, req.Cmp(lim), 0, "%s request <= limit", r)
			}
			require.NotNil(t, c.ReadinessProbe)
			require.NotNil(t, c.LivenessProbe)
			for _, o := range m.Objects() {
				assert.Equal(t, a.Name, o.GetLabels()[ai.LabelName], "%T", o)
				assert.Equal(t, builtin.ManagedBy, o.GetLabels()[ai.LabelManagedBy], "%T", o)
			}
			if a.Spec.Autoscaling != nil {
				assert.Nil(t, d.Spec.Replicas, "the autoscaler owns replicas")
			}
		})
	}
}

func TestManifestsDetails(t *testing.T) {
	g := golden()
	full, _ := generate(t, g["full"])
	c := full.Deployment.Spec.Template.Spec.Containers[0]
	assert.Equal(t, "/healthz", c.ReadinessProbe.HTTPGet.Path, "probes use healthCheck.path")
	assert.Equal(t, intstr.FromString("http"), c.ReadinessProbe.HTTPGet.Port, "on the first port")
	assert.Equal(t, "registry.example.com/shop/storefront:2.3.1", c.Image)
	assert.Equal(t, "2.3.1", full.Deployment.Labels[ai.LabelVersion])
	require.Len(t, full.Deployment.OwnerReferences, 1)
	assert.Equal(t, "ManagedApplication", full.Deployment.OwnerReferences[0].Kind)
	assert.Equal(t, "shop-tls", full.Ingress.Spec.TLS[0].SecretName)
	assert.Equal(t, int32(12), full.HorizontalPodAutoscaler.Spec.MaxReplicas)
	require.Len(t, full.NetworkPolicy.Spec.Ingress, 1)
	assert.Len(t, full.NetworkPolicy.Spec.Ingress[0].From, 3, "same namespace and two others")

	udp, _ := generate(t, g["digest-udp-partial-resources"])
	c = udp.Deployment.Spec.Template.Spec.Containers[0]
	assert.Equal(t, "registry.example.com/infra/dns-cache@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", c.Image)
	assert.NotContains(t, udp.Deployment.Labels, ai.LabelVersion)
	assert.Equal(t, intstr.FromString("admin"), c.LivenessProbe.TCPSocket.Port, "probes go to the first TCP port")
	assert.Equal(t, "1Gi", ptr.To(c.Resources.Limits[corev1.ResourceMemory]).String(), "a request alone is its own limit when above the default")
	assert.Equal(t, "50m", ptr.To(c.Resources.Requests[corev1.ResourceCPU]).String(), "a limit alone caps the default request")
	assert.Empty(t, udp.NetworkPolicy.Spec.Ingress, "no peers: all ingress denied")
	assert.NotNil(t, udp.NetworkPolicy.Spec.Ingress, "an empty list, not a missing one")

	min, _ := generate(t, g["minimal"])
	assert.Equal(t, int32(1), *min.Deployment.Spec.Replicas)
	assert.Nil(t, min.Ingress)
	assert.Nil(t, min.HorizontalPodAutoscaler)
	assert.Len(t, min.Objects(), 2)
}

func TestManifestsRefuse(t *testing.T) {
	http := []aiopsv1alpha1.ApplicationPort{{Name: "http", ContainerPort: 8080}}
	tests := []struct {
		name string
		app  *aiopsv1alpha1.ManagedApplication
		want string
	}{
		{"git source", app("ledger", aiopsv1alpha1.ManagedApplicationSpec{Source: aiopsv1alpha1.ApplicationSource{Git: &aiopsv1alpha1.GitSource{URL: "https://git.example.com/ledger"}}, Ports: http}),
			"takes its manifests from Git"},
		{"no ports", app("worker", aiopsv1alpha1.ManagedApplicationSpec{Source: image("worker", "1")}), "spec.ports is empty"},
		{"udp ingress", app("dns", aiopsv1alpha1.ManagedApplicationSpec{Source: image("dns", "1"),
			Ports: []aiopsv1alpha1.ApplicationPort{{Name: "dns", ContainerPort: 53, Protocol: aiopsv1alpha1.ProtocolUDP}}, Ingress: &aiopsv1alpha1.ApplicationIngress{Host: "dns.example.com"}}),
			"an Ingress needs a TCP port"},
		{"dotted name", app("web.v2", aiopsv1alpha1.ManagedApplicationSpec{Source: image("web", "1"), Ports: http}), "DNS-1035 label"},
		{"min above max", app("web", aiopsv1alpha1.ManagedApplicationSpec{Source: image("web", "1"), Ports: http,
			Autoscaling: &aiopsv1alpha1.ApplicationAutoscaling{MinReplicas: ptr.To[int32](5), MaxReplicas: 2}}), "autoscaling needs"},
		{"budget without a bound", app("web", aiopsv1alpha1.ManagedApplicationSpec{Source: image("web", "1"), Ports: http, DisruptionBudget: &aiopsv1alpha1.DisruptionBudget{}}),
			"exactly one of minAvailable or maxUnavailable"},
		{"no namespace", &aiopsv1alpha1.ManagedApplication{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: aiopsv1alpha1.ManagedApplicationSpec{Source: image("web", "1"), Ports: http}},
			"has no namespace"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := builtin.GenerateManifests(tc.app)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestBestPracticeCheckFindsViolations(t *testing.T) {
	m, _ := generate(t, golden()["minimal"])
	d := m.Deployment.DeepCopy()
	pod := &d.Spec.Template.Spec
	pod.SecurityContext = nil
	pod.AutomountServiceAccountToken = nil
	c := &pod.Containers[0]
	c.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	c.Resources = corev1.ResourceRequirements{}
	c.LivenessProbe, c.ReadinessProbe = nil, nil
	c.Image = "nginx:latest"
	u, err := toUnstructured(d)
	require.NoError(t, err)
	var rules []string
	for _, v := range ai.CheckBestPractices([]*unstructured.Unstructured{u}) {
		rules = append(rules, v.Rule)
	}
	for _, want := range []string{"runAsNonRoot", "seccompProfile", "allowPrivilegeEscalation", "privileged", "capabilities",
		"readOnlyRootFilesystem", "resources", "image", "probes", "automountServiceAccountToken"} {
		assert.Contains(t, rules, want)
	}
}

// TestManifestsPassServerSideDryRun creates each application on the test bed's apiserver (so
// its CRD validates and defaults it), generates from what the server stored, and dry-runs every
// generated object: the apiserver must accept them all.
func TestManifestsPassServerSideDryRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}))
	t.Cleanup(func() {
		_ = kube.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})
	})
	for name, a := range golden() {
		t.Run(name, func(t *testing.T) {
			in := a.DeepCopy()
			in.UID, in.ResourceVersion = "", ""
			require.NoError(t, kube.Create(ctx, in), "the CRD accepts the application")
			t.Cleanup(func() { _ = kube.Delete(context.Background(), in) })
			var stored aiopsv1alpha1.ManagedApplication
			require.NoError(t, kube.Get(ctx, client.ObjectKeyFromObject(in), &stored))
			m, err := builtin.GenerateManifests(&stored)
			require.NoError(t, err)
			y, err := m.YAML()
			require.NoError(t, err)
			objs, err := ai.ParseManifests(y, stored.Namespace)
			require.NoError(t, err)
			assert.Empty(t, ai.CheckBestPractices(objs))
			for _, o := range objs {
				require.NoError(t, kube.Create(ctx, o, client.DryRunAll), "dry-run of %s %s", o.GetKind(), o.GetName())
			}
			// Nothing was created.
			var got corev1.Service
			err = kube.Get(ctx, client.ObjectKey{Namespace: "shop", Name: stored.Name}, &got)
			assert.True(t, client.IgnoreNotFound(err) == nil && err != nil, "dry-run created nothing: %v", err)
		})
	}
}

// TestApplicationValidation shows the new spec fields' rules enforced by the apiserver.
func TestApplicationValidation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	http := []aiopsv1alpha1.ApplicationPort{{Name: "http", ContainerPort: 8080}}
	udp := []aiopsv1alpha1.ApplicationPort{{Name: "dns", ContainerPort: 53, Protocol: aiopsv1alpha1.ProtocolUDP}}
	tests := []struct {
		name string
		spec aiopsv1alpha1.ManagedApplicationSpec
		want string
	}{
		{"ingress on a udp port", aiopsv1alpha1.ManagedApplicationSpec{Source: image("dns", "1"), Ports: udp, Ingress: &aiopsv1alpha1.ApplicationIngress{Host: "dns.example.com"}},
			"ingress.port must name a TCP entry of ports"},
		{"ingress on an unknown port", aiopsv1alpha1.ManagedApplicationSpec{Source: image("web", "1"), Ports: http, Ingress: &aiopsv1alpha1.ApplicationIngress{Host: "web.example.com", Port: "admin"}},
			"ingress.port must name a TCP entry of ports"},
		{"ingress without ports", aiopsv1alpha1.ManagedApplicationSpec{Source: image("web", "1"), Ingress: &aiopsv1alpha1.ApplicationIngress{Host: "web.example.com"}},
			"ingress.port must name a TCP entry of ports"},
		{"ingress host not a DNS name", aiopsv1alpha1.ManagedApplicationSpec{Source: image("web", "1"), Ports: http, Ingress: &aiopsv1alpha1.ApplicationIngress{Host: "Web_Host"}},
			"spec.ingress.host in body should match"},
		{"health path without a tcp port", aiopsv1alpha1.ManagedApplicationSpec{Source: image("dns", "1"), Ports: udp, HealthCheck: &aiopsv1alpha1.HealthCheck{Path: "/healthz"}},
			"healthCheck.path needs a TCP entry in ports"},
		{"autoscaling min above max", aiopsv1alpha1.ManagedApplicationSpec{Source: image("web", "1"), Ports: http, Autoscaling: &aiopsv1alpha1.ApplicationAutoscaling{MinReplicas: ptr.To[int32](5), MaxReplicas: 2}},
			"autoscaling.minReplicas must be less than or equal to autoscaling.maxReplicas"},
		{"budget with both bounds", aiopsv1alpha1.ManagedApplicationSpec{Source: image("web", "1"), Ports: http, DisruptionBudget: &aiopsv1alpha1.DisruptionBudget{
			MinAvailable: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(1))}},
			"exactly one of disruptionBudget.minAvailable or disruptionBudget.maxUnavailable must be set"},
		{"budget percentage over 100", aiopsv1alpha1.ManagedApplicationSpec{Source: image("web", "1"), Ports: http, DisruptionBudget: &aiopsv1alpha1.DisruptionBudget{
			MinAvailable: ptr.To(intstr.FromString("150%"))}},
			"minAvailable must be a non-negative integer or a percentage"},
		{"network policy namespace not a name", aiopsv1alpha1.ManagedApplicationSpec{Source: image("web", "1"), Ports: http, NetworkPolicy: &aiopsv1alpha1.ApplicationNetworkPolicy{
			AllowFromNamespaces: []string{"Ingress NGINX"}}},
			"should match"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := app("invalid-"+string(rune('a'+i)), tc.spec)
			a.Namespace = "default"
			err := kube.Create(ctx, a, client.DryRunAll)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	// Defaults the generator relies on are set by the server.
	a := app("defaults", aiopsv1alpha1.ManagedApplicationSpec{Source: image("web", "1"), Ports: http,
		Ingress: &aiopsv1alpha1.ApplicationIngress{Host: "web.example.com"}, Autoscaling: &aiopsv1alpha1.ApplicationAutoscaling{MaxReplicas: 4},
		NetworkPolicy: &aiopsv1alpha1.ApplicationNetworkPolicy{}})
	a.Namespace = "default"
	require.NoError(t, kube.Create(ctx, a, client.DryRunAll))
	assert.Equal(t, "/", a.Spec.Ingress.Path)
	assert.Equal(t, int32(1), *a.Spec.Autoscaling.MinReplicas)
	assert.Equal(t, int32(80), *a.Spec.Autoscaling.TargetCPUUtilization)
	assert.True(t, *a.Spec.NetworkPolicy.AllowSameNamespace)
}

// TestFleetExampleManifests generates the manifests of the fleet example that uses every
// optional field, as the apiserver stored it, and dry-runs them.
func TestFleetExampleManifests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	raw, err := os.ReadFile("../../../fleet-examples/applications/catalog-image-exposed.yaml")
	require.NoError(t, err)
	var a aiopsv1alpha1.ManagedApplication
	require.NoError(t, yaml.UnmarshalStrict(raw, &a))
	require.NoError(t, kube.Create(ctx, &a))
	t.Cleanup(func() { _ = kube.Delete(context.Background(), &a) })
	m, err := builtin.GenerateManifests(&a)
	require.NoError(t, err)
	assert.Len(t, m.Objects(), 6)
	for _, o := range m.Objects() {
		require.NoError(t, kube.Create(ctx, o.DeepCopyObject().(client.Object), client.DryRunAll), "dry-run of %T", o)
	}
}
