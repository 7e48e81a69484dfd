package capi

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubedevaiops/kubedevaiops/api/crds"
)

const testHash = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func testParams() AgentParams {
	return AgentParams{ClusterName: "work-1", Image: "example.test/agent:v1", HubEndpoints: []string{"10.0.0.1:7401", "10.0.0.2:7401"}, CAHash: testHash}
}

func objectsByKind(t *testing.T, objs []client.Object) map[string]client.Object {
	t.Helper()
	out := map[string]client.Object{}
	for _, o := range objs {
		k := o.GetObjectKind().GroupVersionKind().Kind
		require.NotEmpty(t, k, "%T has its kind set for server-side apply", o)
		require.NotContains(t, out, k, "one %s", k)
		out[k] = o
	}
	return out
}

func TestAgentObjects(t *testing.T) {
	objs, err := AgentObjects(testParams())
	require.NoError(t, err)
	kinds := make([]string, len(objs))
	for i, o := range objs {
		kinds[i] = o.GetObjectKind().GroupVersionKind().Kind
	}
	assert.Equal(t, []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment"}, kinds,
		"the namespace and permissions come before the Deployment")
	byKind := objectsByKind(t, objs)
	for _, o := range objs {
		assert.Equal(t, FieldOwner, o.GetLabels()["app.kubernetes.io/managed-by"], "%T", o)
	}

	dep := byKind["Deployment"].(*appsv1.Deployment)
	assert.Equal(t, AgentNamespace, dep.Namespace)
	assert.Equal(t, int32(1), *dep.Spec.Replicas)
	assert.Equal(t, appsv1.RecreateDeploymentStrategyType, dep.Spec.Strategy.Type, "never two agents at once")
	pod := dep.Spec.Template.Spec
	assert.Equal(t, AgentName, pod.ServiceAccountName)
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.Equal(t, "example.test/agent:v1", c.Image)
	assert.Equal(t, []string{"--cluster-name=work-1", "--hub=10.0.0.1:7401,10.0.0.2:7401", "--hub-ca-hash=" + testHash}, c.Args)
	require.Len(t, c.Env, 1)
	assert.Equal(t, TokenEnv, c.Env[0].Name)
	assert.Empty(t, c.Env[0].Value, "the token never sits in the Deployment")
	ref := c.Env[0].ValueFrom.SecretKeyRef
	require.NotNil(t, ref)
	assert.Equal(t, BootstrapSecretName, ref.Name)
	assert.Equal(t, BootstrapSecretKey, ref.Key)
	assert.True(t, *ref.Optional, "a registered agent restarts without the token")
	assert.True(t, labelsMatch(dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels), "the selector selects the pods")
	assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)

	crb := byKind["ClusterRoleBinding"].(*rbacv1.ClusterRoleBinding)
	assert.Equal(t, AgentName, crb.RoleRef.Name)
	assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: AgentName, Namespace: AgentNamespace}}, crb.Subjects)
	rb := byKind["RoleBinding"].(*rbacv1.RoleBinding)
	assert.Equal(t, "Role", rb.RoleRef.Kind)
	assert.Equal(t, AgentNamespace, rb.Namespace)
}

// allows reports whether rules grant verb on group/resource (and name, when the rule names some).
func allows(rules []rbacv1.PolicyRule, group, res, verb, name string) bool {
	for _, r := range rules {
		if has(r.APIGroups, group) && (has(r.Resources, res) || has(r.Resources, "*")) && has(r.Verbs, verb) &&
			(len(r.ResourceNames) == 0 || has(r.ResourceNames, name)) {
			return true
		}
	}
	return false
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestAgentPermissions(t *testing.T) {
	objs, err := AgentObjects(testParams())
	require.NoError(t, err)
	byKind := objectsByKind(t, objs)
	cluster := byKind["ClusterRole"].(*rbacv1.ClusterRole).Rules
	ns := byKind["Role"].(*rbacv1.Role).Rules

	watched := map[string][]string{
		"":                      {"nodes", "namespaces", "pods", "services", "events"},
		"apps":                  {"deployments", "statefulsets", "daemonsets", "replicasets"},
		"autoscaling":           {"horizontalpodautoscalers"},
		"aiops.kubedevaiops.io": {"managedapplications", "aiopspolicies"},
	}
	for group, resources := range watched {
		for _, r := range resources {
			for _, verb := range []string{"get", "list", "watch"} {
				assert.True(t, allows(cluster, group, r, verb, ""), "%s %s/%s", verb, group, r)
			}
		}
	}
	for _, r := range []string{"nodes", "namespaces", "events", "persistentvolumeclaims"} {
		assert.False(t, allows(cluster, "", r, "delete", ""), "the agent only reads %s", r)
	}
	// The remediation executor's rights: restart, roll back, scale, delete a stuck pod, patch an HPA.
	assert.True(t, allows(cluster, "apps", "deployments", "patch", ""))
	assert.True(t, allows(cluster, "apps", "deployments/scale", "update", ""))
	assert.True(t, allows(cluster, "", "pods", "delete", ""))
	assert.True(t, allows(cluster, "autoscaling", "horizontalpodautoscalers", "update", ""))
	assert.True(t, allows(cluster, "", "pods/log", "get", ""), "log evidence")
	assert.True(t, allows(ns, "", "configmaps", "create", ""), "the directive and action ledgers")
	assert.True(t, allows(cluster, "", "namespaces", "get", "kube-system"), "the cluster id comes from kube-system")

	objsCRD, err := crds.Objects()
	require.NoError(t, err)
	require.NotEmpty(t, objsCRD)
	for _, crd := range objsCRD {
		for _, verb := range []string{"get", "create", "patch"} {
			assert.True(t, allows(cluster, "apiextensions.k8s.io", "customresourcedefinitions", verb, crd.Name), "%s CRD %s", verb, crd.Name)
		}
	}
	assert.False(t, allows(cluster, "apiextensions.k8s.io", "customresourcedefinitions", "patch", "other.example.com"), "only the project's CRDs")
	assert.False(t, allows(cluster, "", "secrets", "get", ""), "no Secrets cluster-wide")

	assert.True(t, allows(ns, "", "secrets", "create", ""))
	for _, verb := range []string{"get", "update"} {
		assert.True(t, allows(ns, "", "secrets", verb, agentSecretName), "%s its own Secret", verb)
		assert.False(t, allows(ns, "", "secrets", verb, "someone-else"), "%s another Secret", verb)
	}
}

func TestAgentParamsValidate(t *testing.T) {
	cases := []struct {
		name   string
		change func(*AgentParams)
		err    string
	}{
		{"valid", func(*AgentParams) {}, ""},
		{"name not a DNS label", func(p *AgentParams) { p.ClusterName = "Work_1" }, "cluster name"},
		{"no image", func(p *AgentParams) { p.Image = "" }, "no agent image"},
		{"no endpoints", func(p *AgentParams) { p.HubEndpoints = nil }, "no hub endpoints"},
		{"endpoint without port", func(p *AgentParams) { p.HubEndpoints = []string{"hub.example.com"} }, "hub endpoint"},
		{"bad pin", func(p *AgentParams) { p.CAHash = "md5:00" }, "hub CA hash"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := testParams()
			c.change(&p)
			err := p.Validate()
			if c.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, c.err)
			_, err = AgentObjects(p)
			require.Error(t, err, "no manifests from bad parameters")
		})
	}
}

func TestBootstrapSecret(t *testing.T) {
	s, err := BootstrapSecret("abcdef.0123456789abcdef")
	require.NoError(t, err)
	assert.Equal(t, "Secret", s.Kind)
	assert.Equal(t, "v1", s.APIVersion)
	assert.Equal(t, AgentNamespace, s.Namespace)
	assert.Equal(t, BootstrapSecretName, s.Name)
	assert.Equal(t, corev1.SecretTypeOpaque, s.Type)
	assert.Equal(t, "abcdef.0123456789abcdef", string(s.Data[BootstrapSecretKey]))
}

func TestDefaultAgentImage(t *testing.T) {
	assert.Equal(t, "ghcr.io/kubedevaiops/kubedevaiops-agent:v1.2.3", DefaultAgentImage("v1.2.3"))
}
