package builtin

import (
	"bytes"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai"
)

// What generated manifests use when the application does not say.
const (
	// ContainerName is the name of the application's container (SetResources' "container").
	ContainerName = "app"
	// RunAsID is the user, group and fsGroup pods run as: not root, and numeric so that the
	// kubelet can enforce runAsNonRoot whatever the image's USER says.
	RunAsID int64 = 65532
	// DefaultReplicas without autoscaling when spec.replicas is not set.
	DefaultReplicas int32 = 1
	// DefaultMinReplicas and DefaultTargetCPUUtilization of autoscaling.
	DefaultMinReplicas          int32 = 1
	DefaultTargetCPUUtilization int32 = 80
	// TmpSizeLimit bounds the writable /tmp (an emptyDir) that a read-only root filesystem leaves.
	TmpSizeLimit = "128Mi"
	// ManagedBy is the app.kubernetes.io/managed-by label value.
	ManagedBy = "kubedevaiops"
)

// DefaultResources are the requests and limits of a container whose application gives none.
// A request given alone gets the larger of itself and the default limit as its limit; a limit
// given alone gets the smaller of itself and the default request as its request.
func DefaultResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
}

// Manifests are the objects that run one ManagedApplication. Deployment and Service are always
// there; the others when the application's spec asks for them.
type Manifests struct {
	Deployment              *appsv1.Deployment
	Service                 *corev1.Service
	Ingress                 *networkingv1.Ingress
	HorizontalPodAutoscaler *autoscalingv2.HorizontalPodAutoscaler
	PodDisruptionBudget     *policyv1.PodDisruptionBudget
	NetworkPolicy           *networkingv1.NetworkPolicy
}

// Objects are the manifests in their fixed order: Deployment, Service, Ingress,
// HorizontalPodAutoscaler, PodDisruptionBudget, NetworkPolicy (those present).
func (m Manifests) Objects() []client.Object {
	var out []client.Object
	add := func(o client.Object, present bool) {
		if present {
			out = append(out, o)
		}
	}
	add(m.Deployment, m.Deployment != nil)
	add(m.Service, m.Service != nil)
	add(m.Ingress, m.Ingress != nil)
	add(m.HorizontalPodAutoscaler, m.HorizontalPodAutoscaler != nil)
	add(m.PodDisruptionBudget, m.PodDisruptionBudget != nil)
	add(m.NetworkPolicy, m.NetworkPolicy != nil)
	return out
}

// YAML encodes Objects as YAML documents separated by "---", keys sorted and without the empty
// status and creationTimestamp, so the same manifests give the same bytes.
func (m Manifests) YAML() ([]byte, error) {
	var b bytes.Buffer
	for i, o := range m.Objects() {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
		delete(u, "status")
		if md, ok := u["metadata"].(map[string]any); ok {
			delete(md, "creationTimestamp")
		}
		if tpl, ok := nested(u, "spec", "template", "metadata"); ok {
			delete(tpl, "creationTimestamp")
		}
		y, err := yaml.Marshal(u)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", o.GetName(), err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}

func nested(u map[string]any, path ...string) (map[string]any, bool) {
	cur := u
	for _, p := range path {
		next, ok := cur[p].(map[string]any)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

// GenerateManifests makes the manifests of an application that runs from an image. It is a
// pure function of the application: the same object gives the same manifests, byte for byte.
// Pods run as user RunAsID, non-root, with the RuntimeDefault seccomp profile, no service
// account token, and a writable /tmp only; the container cannot escalate privileges, drops
// ALL capabilities, has a read-only root filesystem, requests and limits (DefaultResources
// where not given) and, on the first TCP port, readiness and liveness probes (HTTP GET of
// healthCheck.path, else a TCP connect). Every object carries the app.kubernetes.io labels and,
// when the application has a uid, a controller reference to it. A canary strategy gets the
// same Deployment: the rollout controller shifts traffic, not these manifests.
func GenerateManifests(app *aiopsv1alpha1.ManagedApplication) (Manifests, error) {
	if app == nil {
		return Manifests{}, fmt.Errorf("generate manifests: no application")
	}
	where := app.Namespace + "/" + app.Name
	if err := (ai.ManifestRequest{Application: app}).Validate(); err != nil {
		return Manifests{}, fmt.Errorf("generate manifests for %s: %w", where, err)
	}
	spec := &app.Spec
	img := spec.Source.Image
	if img == nil {
		return Manifests{}, fmt.Errorf("generate manifests for %s: the application takes its manifests from Git (spec.source.git); the built-in engine generates them only for spec.source.image", where)
	}
	if img.Repository == "" || (img.Tag == "") == (img.Digest == "") {
		return Manifests{}, fmt.Errorf("generate manifests for %s: spec.source.image needs a repository and exactly one of tag or digest", where)
	}
	if len(spec.Ports) == 0 {
		return Manifests{}, fmt.Errorf("generate manifests for %s: spec.ports is empty; the Service and the probes need at least one port", where)
	}
	if len(validation.IsDNS1035Label(app.Name)) > 0 {
		return Manifests{}, fmt.Errorf("generate manifests for %s: the name must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter) to name a Service", where)
	}
	image := img.Repository + ":" + img.Tag
	if img.Digest != "" {
		image = img.Repository + "@" + img.Digest
	}

	selector := map[string]string{ai.LabelName: app.Name, ai.LabelInstance: app.Name}
	labels := map[string]string{ai.LabelName: app.Name, ai.LabelInstance: app.Name, ai.LabelManagedBy: ManagedBy}
	if img.Tag != "" && len(validation.IsValidLabelValue(img.Tag)) == 0 {
		labels[ai.LabelVersion] = img.Tag
	}
	meta := func() metav1.ObjectMeta {
		m := metav1.ObjectMeta{Name: app.Name, Namespace: app.Namespace, Labels: clone(labels)}
		if app.UID != "" {
			m.OwnerReferences = []metav1.OwnerReference{{
				APIVersion: aiopsv1alpha1.GroupVersion.String(), Kind: "ManagedApplication", Name: app.Name, UID: app.UID, Controller: ptr.To(true),
			}}
		}
		return m
	}

	ports := make([]corev1.ContainerPort, 0, len(spec.Ports))
	svcPorts := make([]corev1.ServicePort, 0, len(spec.Ports))
	var probePort *aiopsv1alpha1.ApplicationPort
	for i, p := range spec.Ports {
		proto := protocolOf(p)
		ports = append(ports, corev1.ContainerPort{Name: p.Name, ContainerPort: p.ContainerPort, Protocol: proto})
		svcPorts = append(svcPorts, corev1.ServicePort{Name: p.Name, Port: p.ContainerPort, TargetPort: intstr.FromString(p.Name), Protocol: proto})
		if probePort == nil && proto == corev1.ProtocolTCP {
			probePort = &spec.Ports[i]
		}
	}
	if hc := spec.HealthCheck; hc != nil && hc.Path != "" && probePort == nil {
		return Manifests{}, fmt.Errorf("generate manifests for %s: healthCheck.path needs a TCP port to probe", where)
	}

	container := corev1.Container{
		Name: ContainerName, Image: image, ImagePullPolicy: corev1.PullIfNotPresent, Ports: ports,
		Resources: resourcesOf(spec.Resources),
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		VolumeMounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
	}
	if probePort != nil {
		container.ReadinessProbe, container.LivenessProbe = probes(*probePort, spec.HealthCheck)
	}
	tmpLimit := resource.MustParse(TmpSizeLimit)
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta(),
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: clone(selector)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: clone(labels)},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(RunAsID), RunAsGroup: ptr.To(RunAsID), FSGroup: ptr.To(RunAsID),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{container},
					Volumes:    []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &tmpLimit}}}},
				},
			},
		},
	}
	if spec.Autoscaling == nil {
		dep.Spec.Replicas = ptr.To(DefaultReplicas)
		if spec.Replicas != nil {
			dep.Spec.Replicas = ptr.To(*spec.Replicas)
		}
	}
	if s := spec.Strategy; s != nil && s.Rolling != nil && (s.Rolling.MaxSurge != nil || s.Rolling.MaxUnavailable != nil) {
		dep.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
			MaxSurge: s.Rolling.MaxSurge, MaxUnavailable: s.Rolling.MaxUnavailable,
		}}
	}
	m := Manifests{
		Deployment: dep,
		Service: &corev1.Service{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: meta(),
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: clone(selector), Ports: svcPorts},
		},
	}

	if in := spec.Ingress; in != nil {
		port, err := ingressPort(spec)
		if err != nil {
			return Manifests{}, fmt.Errorf("generate manifests for %s: %w", where, err)
		}
		path := in.Path
		if path == "" {
			path = "/"
		}
		ing := &networkingv1.Ingress{
			TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"}, ObjectMeta: meta(),
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
				Host: in.Host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: path, PathType: ptr.To(networkingv1.PathTypePrefix),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: app.Name, Port: networkingv1.ServiceBackendPort{Name: port}}},
				}}}},
			}}},
		}
		if in.ClassName != "" {
			ing.Spec.IngressClassName = ptr.To(in.ClassName)
		}
		if in.TLSSecretName != "" {
			ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{in.Host}, SecretName: in.TLSSecretName}}
		}
		m.Ingress = ing
	}

	if as := spec.Autoscaling; as != nil {
		lo, target := DefaultMinReplicas, DefaultTargetCPUUtilization
		if as.MinReplicas != nil {
			lo = *as.MinReplicas
		}
		if as.TargetCPUUtilization != nil {
			target = *as.TargetCPUUtilization
		}
		if lo < 1 || as.MaxReplicas < lo || as.MaxReplicas > ai.MaxReplicas || target < 1 || target > 100 {
			return Manifests{}, fmt.Errorf("generate manifests for %s: autoscaling needs 1 <= minReplicas (%d) <= maxReplicas (%d) <= %d and a CPU target from 1 to 100 (%d)", where, lo, as.MaxReplicas, ai.MaxReplicas, target)
		}
		m.HorizontalPodAutoscaler = &autoscalingv2.HorizontalPodAutoscaler{
			TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"}, ObjectMeta: meta(),
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: app.Name},
				MinReplicas:    ptr.To(lo), MaxReplicas: as.MaxReplicas,
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(target)},
				}}},
			},
		}
	}

	if db := spec.DisruptionBudget; db != nil {
		if (db.MinAvailable == nil) == (db.MaxUnavailable == nil) {
			return Manifests{}, fmt.Errorf("generate manifests for %s: disruptionBudget needs exactly one of minAvailable or maxUnavailable", where)
		}
		m.PodDisruptionBudget = &policyv1.PodDisruptionBudget{
			TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"}, ObjectMeta: meta(),
			Spec: policyv1.PodDisruptionBudgetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: clone(selector)}, MinAvailable: db.MinAvailable, MaxUnavailable: db.MaxUnavailable,
				// A crash-looping pod must not block a node drain.
				UnhealthyPodEvictionPolicy: ptr.To(policyv1.AlwaysAllow),
			},
		}
	}

	if np := spec.NetworkPolicy; np != nil {
		var peers []networkingv1.NetworkPolicyPeer
		if np.AllowSameNamespace == nil || *np.AllowSameNamespace {
			peers = append(peers, networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{}})
		}
		nss := slices.Clone(np.AllowFromNamespaces)
		slices.Sort(nss)
		for _, ns := range slices.Compact(nss) {
			peers = append(peers, networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}})
		}
		pol := &networkingv1.NetworkPolicy{
			TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"}, ObjectMeta: meta(),
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: clone(selector)},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				// No peers: an empty rule list denies all ingress (a rule without peers would admit all).
				Ingress: []networkingv1.NetworkPolicyIngressRule{},
			},
		}
		if len(peers) > 0 {
			var nps []networkingv1.NetworkPolicyPort
			for _, p := range spec.Ports {
				nps = append(nps, networkingv1.NetworkPolicyPort{Protocol: ptr.To(protocolOf(p)), Port: ptr.To(intstr.FromInt32(p.ContainerPort))})
			}
			pol.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: peers, Ports: nps}}
		}
		m.NetworkPolicy = pol
	}
	return m, nil
}

func protocolOf(p aiopsv1alpha1.ApplicationPort) corev1.Protocol {
	if p.Protocol == aiopsv1alpha1.ProtocolUDP {
		return corev1.ProtocolUDP
	}
	return corev1.ProtocolTCP
}

// ingressPort is the port the Ingress sends traffic to: the one named, else the first; TCP.
func ingressPort(spec *aiopsv1alpha1.ManagedApplicationSpec) (string, error) {
	want := spec.Ingress.Port
	for i, p := range spec.Ports {
		if (want == "" && i == 0) || p.Name == want {
			if protocolOf(p) != corev1.ProtocolTCP {
				return "", fmt.Errorf("ingress port %s is %s; an Ingress needs a TCP port", p.Name, p.Protocol)
			}
			return p.Name, nil
		}
	}
	return "", fmt.Errorf("ingress.port %q names no entry of spec.ports", want)
}

func probes(p aiopsv1alpha1.ApplicationPort, hc *aiopsv1alpha1.HealthCheck) (readiness, liveness *corev1.Probe) {
	handler := corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(p.Name)}}
	var delay int32
	if hc != nil {
		if hc.Path != "" {
			handler = corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: hc.Path, Port: intstr.FromString(p.Name)}}
		}
		if hc.InitialDelaySeconds != nil {
			delay = *hc.InitialDelaySeconds
		}
	}
	readiness = &corev1.Probe{ProbeHandler: handler, InitialDelaySeconds: delay, PeriodSeconds: 10, TimeoutSeconds: 1, FailureThreshold: 3, SuccessThreshold: 1}
	// Liveness waits longer and tolerates more, so that a slow start is not a restart loop.
	live := handler.DeepCopy()
	liveness = &corev1.Probe{ProbeHandler: *live, InitialDelaySeconds: delay + 10, PeriodSeconds: 20, TimeoutSeconds: 1, FailureThreshold: 3, SuccessThreshold: 1}
	return readiness, liveness
}

// resourcesOf fills in what the application leaves out of its requests and limits.
func resourcesOf(given *corev1.ResourceRequirements) corev1.ResourceRequirements {
	out := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	if given != nil {
		out = *given.DeepCopy()
		if out.Requests == nil {
			out.Requests = corev1.ResourceList{}
		}
		if out.Limits == nil {
			out.Limits = corev1.ResourceList{}
		}
	}
	def := DefaultResources()
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := out.Requests[r]
		lim, hasLim := out.Limits[r]
		switch {
		case !hasReq && !hasLim:
			out.Requests[r], out.Limits[r] = def.Requests[r], def.Limits[r]
		case hasReq && !hasLim:
			out.Limits[r] = maxQ(req, def.Limits[r])
		case !hasReq && hasLim:
			out.Requests[r] = minQ(lim, def.Requests[r])
		}
	}
	return out
}

func maxQ(a, b resource.Quantity) resource.Quantity {
	if a.Cmp(b) >= 0 {
		return a
	}
	return b
}

func minQ(a, b resource.Quantity) resource.Quantity {
	if a.Cmp(b) <= 0 {
		return a
	}
	return b
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
