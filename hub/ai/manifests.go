package ai

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Labels every generated object and pod carries (the Kubernetes recommended labels).
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelVersion   = "app.kubernetes.io/version"
	LabelManagedBy = "app.kubernetes.io/managed-by"
)

// forbiddenGroups are API groups no AI-made manifest may touch (the executor refuses them too).
func forbiddenGroups() []string {
	return []string{"rbac.authorization.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io",
		"apiregistration.k8s.io", "certificates.k8s.io"}
}

// clusterScopedKinds are common cluster-scoped kinds, refused because manifests stay in one namespace.
func clusterScopedKinds() []string {
	return []string{"Namespace", "Node", "PersistentVolume", "StorageClass", "PriorityClass", "IngressClass",
		"RuntimeClass", "CSIDriver", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
}

// ParseManifests decodes YAML (or JSON) documents separated by "---" into objects, strictly:
// at most MaxManifestBytes and MaxManifestObjects, no duplicate keys, every object with an
// apiVersion, a kind and a valid name, unique by kind and name, in namespace (an object without
// a namespace is put in it), of no cluster-scoped kind and of no forbidden API group (RBAC,
// admission, CRDs, API services, certificates).
func ParseManifests(data []byte, namespace string) ([]*unstructured.Unstructured, error) {
	if len(data) > MaxManifestBytes {
		return nil, invalid("manifests are %d bytes, at most %d", len(data), MaxManifestBytes)
	}
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return nil, fmt.Errorf("manifests: namespace %q is not a namespace name", namespace)
	}
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*unstructured.Unstructured
	seen := map[string]bool{}
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, invalid("manifests: document %d: %v", i, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, invalid("manifests: document %d: %v", i, err)
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(js); err != nil {
			return nil, invalid("manifests: document %d: %v", i, err)
		}
		gvk := obj.GroupVersionKind()
		name := obj.GetName()
		where := fmt.Sprintf("manifests: document %d (%s %s)", i, gvk.Kind, name)
		switch {
		case gvk.Version == "" || gvk.Kind == "":
			return nil, invalid("%s: apiVersion and kind are required", where)
		case name == "" || len(validation.IsDNS1123Subdomain(name)) > 0:
			return nil, invalid("%s: metadata.name %q is not a Kubernetes name", where, name)
		case slices.Contains(forbiddenGroups(), gvk.Group):
			return nil, invalid("%s: the API group %s is not allowed", where, gvk.Group)
		case slices.Contains(clusterScopedKinds(), gvk.Kind):
			return nil, invalid("%s: cluster-scoped kinds are not allowed", where)
		case obj.GetNamespace() != "" && obj.GetNamespace() != namespace:
			return nil, invalid("%s: namespace %q is not %q", where, obj.GetNamespace(), namespace)
		}
		obj.SetNamespace(namespace)
		key := gvk.GroupKind().String() + "/" + name
		if seen[key] {
			return nil, invalid("%s: a second object of that kind and name", where)
		}
		seen[key] = true
		if out = append(out, obj); len(out) > MaxManifestObjects {
			return nil, invalid("manifests: more than %d objects", MaxManifestObjects)
		}
	}
	if len(out) == 0 {
		return nil, invalid("manifests: no objects")
	}
	return out, nil
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for l := range bytes.SplitSeq(doc, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			b.Write(l)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// allowedManifestKinds are what an application's generated manifests may contain.
func allowedManifestKinds() []schema.GroupVersionKind {
	return []schema.GroupVersionKind{
		{Group: "apps", Version: "v1", Kind: "Deployment"},
		{Version: "v1", Kind: "Service"},
		{Version: "v1", Kind: "ServiceAccount"},
		{Version: "v1", Kind: "ConfigMap"},
		{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
		{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
		{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"},
		{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"},
	}
}

// ValidateManifests checks manifests answering req: ParseManifests in the application's
// namespace, only the kinds an application needs (Deployment, Service, ServiceAccount,
// ConfigMap, Ingress, NetworkPolicy, HorizontalPodAutoscaler, PodDisruptionBudget), exactly one
// Deployment and at least one Service, no CheckBestPractices violation, and Objects (when
// given) the same objects in the same order.
func ValidateManifests(req ManifestRequest, a ManifestAnswer) error {
	objs, err := ParseManifests(a.YAML, req.Application.Namespace)
	if err != nil {
		return err
	}
	deployments, services := 0, 0
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if !slices.Contains(allowedManifestKinds(), gvk) {
			return invalid("manifests: %s %s is not a kind an application's manifests may hold", gvk.String(), o.GetName())
		}
		switch gvk.Kind {
		case "Deployment":
			deployments++
		case "Service":
			services++
		}
	}
	if deployments != 1 || services < 1 {
		return invalid("manifests: need exactly one Deployment and at least one Service, have %d and %d", deployments, services)
	}
	if vs := CheckBestPractices(objs); len(vs) > 0 {
		msgs := make([]string, len(vs))
		for i, v := range vs {
			msgs[i] = v.String()
		}
		return invalid("manifests break best practices: %s", strings.Join(msgs, "; "))
	}
	if a.Objects != nil {
		if len(a.Objects) != len(objs) {
			return invalid("manifests: %d objects decoded but %d documents", len(a.Objects), len(objs))
		}
		for i, o := range a.Objects {
			if o == nil || o.GetName() != objs[i].GetName() || kindOf(o) != objs[i].GetKind() {
				return invalid("manifests: object %d is not document %d (%s %s)", i, i, objs[i].GetKind(), objs[i].GetName())
			}
		}
	}
	return nil
}

func kindOf(o runtime.Object) string { return o.GetObjectKind().GroupVersionKind().Kind }

// Violation is one broken best practice in a manifest.
type Violation struct {
	// Object is "Kind/name", Container the container's name when the rule is about one.
	Object    string `json:"object"`
	Container string `json:"container,omitempty"`
	// Rule is a short stable name, e.g. "readOnlyRootFilesystem".
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

func (v Violation) String() string {
	where := v.Object
	if v.Container != "" {
		where += " container " + v.Container
	}
	return where + ": " + v.Message
}

// CheckBestPractices lists what the objects break of the rules every workload the hub proposes
// must follow: the app.kubernetes.io/name and instance labels on every object and pod template;
// pods that run as non-root with the RuntimeDefault (or a Localhost) seccomp profile, do not share
// the host's network, PID or IPC namespaces and do not mount the service account token unless
// they ask for it; containers that cannot escalate privileges, are not privileged, drop ALL
// capabilities and add none, have a read-only root filesystem, cpu and memory requests and
// limits, an image pinned by tag (not latest) or digest, and, when they listen on a TCP port,
// liveness and readiness probes.
func CheckBestPractices(objs []*unstructured.Unstructured) []Violation {
	var out []Violation
	for _, o := range objs {
		id := o.GetKind() + "/" + o.GetName()
		add := func(container, rule, format string, args ...any) {
			out = append(out, Violation{Object: id, Container: container, Rule: rule, Message: fmt.Sprintf(format, args...)})
		}
		labels := o.GetLabels()
		for _, l := range []string{LabelName, LabelInstance} {
			if labels[l] == "" {
				add("", "labels", "label %s missing", l)
			}
		}
		var tpl *corev1.PodTemplateSpec
		switch o.GroupVersionKind().GroupKind() {
		case schema.GroupKind{Group: "apps", Kind: "Deployment"}:
			var d appsv1.Deployment
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
				add("", "decode", "cannot decode: %v", err)
				continue
			}
			tpl = &d.Spec.Template
		case schema.GroupKind{Group: "apps", Kind: "StatefulSet"}:
			var s appsv1.StatefulSet
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &s); err != nil {
				add("", "decode", "cannot decode: %v", err)
				continue
			}
			tpl = &s.Spec.Template
		case schema.GroupKind{Group: "apps", Kind: "DaemonSet"}:
			var s appsv1.DaemonSet
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &s); err != nil {
				add("", "decode", "cannot decode: %v", err)
				continue
			}
			tpl = &s.Spec.Template
		case schema.GroupKind{Kind: "Pod"}:
			var p corev1.Pod
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &p); err != nil {
				add("", "decode", "cannot decode: %v", err)
				continue
			}
			tpl = &corev1.PodTemplateSpec{ObjectMeta: p.ObjectMeta, Spec: p.Spec}
		}
		if tpl != nil {
			checkPod(tpl, add)
		}
	}
	return out
}

func checkPod(tpl *corev1.PodTemplateSpec, add func(container, rule, format string, args ...any)) {
	for _, l := range []string{LabelName, LabelInstance} {
		if tpl.Labels[l] == "" {
			add("", "labels", "pod template label %s missing", l)
		}
	}
	spec := &tpl.Spec
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		add("", "hostNamespaces", "shares a host namespace (hostNetwork, hostPID or hostIPC)")
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		add("", "automountServiceAccountToken", "mounts the service account token; set automountServiceAccountToken: false")
	}
	containers := append(slices.Clone(spec.InitContainers), spec.Containers...)
	if len(spec.Containers) == 0 {
		add("", "containers", "has no containers")
	}
	for i, c := range containers {
		main := i >= len(spec.InitContainers)
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		nonRoot := sc.RunAsNonRoot
		if nonRoot == nil {
			nonRoot = psc.RunAsNonRoot
		}
		if nonRoot == nil || !*nonRoot {
			add(c.Name, "runAsNonRoot", "may run as root; set runAsNonRoot: true")
		}
		if uid := sc.RunAsUser; uid != nil && *uid == 0 || sc.RunAsUser == nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
			add(c.Name, "runAsNonRoot", "runs as user 0")
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = psc.SeccompProfile
		}
		if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
			add(c.Name, "seccompProfile", "has no RuntimeDefault or Localhost seccomp profile")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			add(c.Name, "allowPrivilegeEscalation", "may escalate privileges; set allowPrivilegeEscalation: false")
		}
		if sc.Privileged != nil && *sc.Privileged {
			add(c.Name, "privileged", "is privileged")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			add(c.Name, "capabilities", "does not drop ALL capabilities")
		} else if len(sc.Capabilities.Add) > 0 {
			add(c.Name, "capabilities", "adds capabilities %v", sc.Capabilities.Add)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			add(c.Name, "readOnlyRootFilesystem", "has a writable root filesystem; set readOnlyRootFilesystem: true")
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				add(c.Name, "resources", "no %s request", r)
			}
			if _, ok := c.Resources.Limits[r]; !ok {
				add(c.Name, "resources", "no %s limit", r)
			}
		}
		if !pinned(c.Image) {
			add(c.Name, "image", "image %q is not pinned by a tag other than latest or by a digest", c.Image)
		}
		if main && slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Protocol == "" || p.Protocol == corev1.ProtocolTCP }) {
			if c.LivenessProbe == nil {
				add(c.Name, "probes", "listens on TCP but has no liveness probe")
			}
			if c.ReadinessProbe == nil {
				add(c.Name, "probes", "listens on TCP but has no readiness probe")
			}
		}
	}
}

func pinned(image string) bool {
	_, tag, digest := splitImage(image)
	return digest != "" || (tag != "" && tag != "latest")
}
