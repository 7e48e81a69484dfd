package capi

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/kubedevaiops/kubedevaiops/api/agentrbac"
	"github.com/kubedevaiops/kubedevaiops/api/crds"
	"github.com/kubedevaiops/kubedevaiops/api/fleetauth"
)

// What the importer installs into a workload cluster.
const (
	// AgentNamespace holds the agent, its Secrets and its namespaced RBAC.
	AgentNamespace = "kubedevaiops-system"
	// AgentName names the agent's ServiceAccount, Deployment and RBAC objects.
	AgentName = "kubedevaiops-agent"
	// BootstrapSecretName is the Secret with the bootstrap token, under BootstrapSecretKey.
	BootstrapSecretName = "kubedevaiops-bootstrap"
	BootstrapSecretKey  = "token"
	// TokenEnv is the variable the agent reads the bootstrap token from.
	TokenEnv = "KUBEDEVAIOPS_BOOTSTRAP_TOKEN"
	// FieldOwner is the server-side apply field manager of everything the hub installs.
	FieldOwner = "kubedevaiops-hub"
	// DefaultImageRepository is where the agent image is published; the tag is the hub's version.
	DefaultImageRepository = "ghcr.io/kubedevaiops/kubedevaiops-agent"
)

// agentSecretName is the Secret the agent keeps its key and certificate in (its --secret-name default).
const agentSecretName = "kubedevaiops-agent-hub"

var commonLabels = map[string]string{
	"app.kubernetes.io/name":       AgentName,
	"app.kubernetes.io/managed-by": FieldOwner,
}

// DefaultAgentImage is the agent image that matches a hub version.
func DefaultAgentImage(hubVersion string) string { return DefaultImageRepository + ":" + hubVersion }

// AgentParams say how the agent of one imported cluster is installed.
type AgentParams struct {
	// ClusterName is the name the agent registers as (the ManagedCluster's name).
	ClusterName string
	// Image is the agent's container image.
	Image string
	// HubEndpoints are the hub members' gRPC addresses (host:port) the agent registers with.
	HubEndpoints []string
	// CAHash pins the hub CA (sha256:<hex>), as fleetauth.CAHash makes it.
	CAHash string
}

// Validate says what is wrong with the parameters, if anything.
func (p AgentParams) Validate() error {
	var errs []error
	if e := validation.IsDNS1123Label(p.ClusterName); len(e) > 0 {
		errs = append(errs, fmt.Errorf("cluster name %q: %s", p.ClusterName, strings.Join(e, "; ")))
	}
	if p.Image == "" {
		errs = append(errs, errors.New("no agent image"))
	}
	if len(p.HubEndpoints) == 0 {
		errs = append(errs, errors.New("no hub endpoints: the hub has no member records yet, and --capi-hub-endpoints is not set"))
	}
	for _, e := range p.HubEndpoints {
		if _, _, err := net.SplitHostPort(e); err != nil {
			errs = append(errs, fmt.Errorf("hub endpoint %q: %v", e, err))
		}
	}
	if _, err := fleetauth.ParseCAHash(p.CAHash); err != nil {
		errs = append(errs, fmt.Errorf("hub CA hash: %w", err))
	}
	return errors.Join(errs...)
}

// AgentArgs are the agent container's arguments.
func (p AgentParams) AgentArgs() []string {
	return []string{
		"--cluster-name=" + p.ClusterName,
		"--hub=" + strings.Join(p.HubEndpoints, ","),
		"--hub-ca-hash=" + p.CAHash,
	}
}

// AgentObjects are the objects that run the agent, in the order they are applied: namespace,
// identity and permissions first, so the Deployment's pod starts with everything it needs. The
// bootstrap Secret is separate (BootstrapSecret): it is written once per import, never re-applied.
func AgentObjects(p AgentParams) ([]client.Object, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	rules, err := agentClusterRules()
	if err != nil {
		return nil, err
	}
	meta := func(name, ns string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: maps.Clone(commonLabels)}
	}
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: AgentName, Namespace: AgentNamespace}}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: meta(AgentNamespace, "")},
		&corev1.ServiceAccount{ObjectMeta: meta(AgentName, AgentNamespace)},
		&rbacv1.ClusterRole{ObjectMeta: meta(AgentName, ""), Rules: rules},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: meta(AgentName, ""),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: AgentName},
			Subjects:   subject,
		},
		&rbacv1.Role{ObjectMeta: meta(AgentName, AgentNamespace), Rules: agentNamespaceRules()},
		&rbacv1.RoleBinding{
			ObjectMeta: meta(AgentName, AgentNamespace),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: AgentName},
			Subjects:   subject,
		},
		agentDeployment(p),
	}
	return withKinds(objs)
}

// agentClusterRules let the agent read what it watches cluster-wide and manage the project's
// CRDs, which it installs at start, by name only.
func agentClusterRules() ([]rbacv1.PolicyRule, error) {
	objs, err := crds.Objects()
	if err != nil {
		return nil, fmt.Errorf("the project's CRDs: %w", err)
	}
	names := make([]string, 0, len(objs))
	for _, crd := range objs {
		names = append(names, crd.Name)
	}
	rules := append(agentrbac.Watch(), agentrbac.Actions()...)
	return append(rules,
		// Server-side apply that creates an object is authorised as "create" with the object's
		// name, so resourceNames confine even creation to the project's own CRDs.
		rbacv1.PolicyRule{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"}, ResourceNames: names,
			Verbs: []string{"get", "create", "patch", "update"}},
	), nil
}

// agentNamespaceRules let the agent keep its credentials Secret in its own namespace, and its
// directive and action ledgers. Creation cannot be confined by name; reading and changing
// Secrets can, so the agent never reads other Secrets.
func agentNamespaceRules() []rbacv1.PolicyRule {
	return append([]rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{agentSecretName}, Verbs: []string{"get", "update", "patch"}},
	}, agentrbac.Ledgers()...)
}

func agentDeployment(p AgentParams) *appsv1.Deployment {
	selector := map[string]string{"app.kubernetes.io/name": AgentName}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: AgentName, Namespace: AgentNamespace, Labels: maps.Clone(commonLabels)},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			// One agent at a time: two would race to register with a one-use token.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(commonLabels)},
				Spec: corev1.PodSpec{
					ServiceAccountName: AgentName,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:  "agent",
						Image: p.Image,
						Args:  p.AgentArgs(),
						Env: []corev1.EnvVar{{
							Name: TokenEnv,
							ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
								LocalObjectReference: corev1.LocalObjectReference{Name: BootstrapSecretName},
								Key:                  BootstrapSecretKey,
								// Once registered the agent needs no token: the pod still starts
								// when the spent token's Secret has been removed.
								Optional: ptr.To(true),
							}},
						}},
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
						}},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}
}

// BootstrapSecret holds the bootstrap token the agent registers with.
func BootstrapSecret(token string) (*corev1.Secret, error) {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: BootstrapSecretName, Namespace: AgentNamespace, Labels: maps.Clone(commonLabels)},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{BootstrapSecretKey: []byte(token)},
	}
	objs, err := withKinds([]client.Object{s})
	if err != nil {
		return nil, err
	}
	return objs[0].(*corev1.Secret), nil
}

// agentNamespace is the first object applied: it proves the workload cluster is reachable.
func agentNamespace() *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: AgentNamespace, Labels: maps.Clone(commonLabels)}}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return ns
}

// workloadScheme knows the built-in kinds the importer writes into workload clusters.
func workloadScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// withKinds sets apiVersion and kind, which server-side apply needs in the body.
func withKinds(objs []client.Object) ([]client.Object, error) {
	s, err := workloadScheme()
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		gvk, err := apiutil.GVKForObject(o, s)
		if err != nil {
			return nil, err
		}
		o.GetObjectKind().SetGroupVersionKind(gvk)
	}
	return objs, nil
}
