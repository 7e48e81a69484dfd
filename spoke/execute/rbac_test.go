package execute

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// RequiredRules and LedgerRules are enough: every action type, and a restore, run as a service
// account that holds only them.
func TestRequiredRulesSuffice(t *testing.T) {
	t.Parallel()
	admin := kube(t)
	ns := namespace(t, admin)
	ctx := testContext(t)
	c := restrictedClient(t, admin, ns)
	e := engine(t, c, ns, nil)
	fast := func(extra map[string]string) map[string]string {
		p := map[string]string{"verifyStableFor": "1s"}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	d := newDeployment(t, admin, ns, "web", 1, "web:1", false)
	update(t, admin, d, func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "web:2" })
	awaitRollout(t, admin, d)

	steps := []struct {
		action string
		target client.Object
		params map[string]string
	}{
		{"RestartWorkload", d, nil},
		{"ScaleWorkload", d, map[string]string{"replicas": "2"}},
		{"SetResources", d, map[string]string{"memoryLimit": "256Mi"}},
		{"RollbackWorkload", d, nil},
		{"ApplyManifests", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: ns}}, map[string]string{"manifests": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: b}\n"}},
	}
	for _, s := range steps {
		st := e.Execute(ctx, directive(s.action, ref(t, admin, s.target, false), fast(s.params)), nil)
		requirePhase(t, st, phaseSucceeded, ReasonVerified)
	}

	var pods corev1.PodList
	require.NoError(t, admin.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": "web"}))
	require.NotEmpty(t, pods.Items)
	st := e.Execute(ctx, directive("DeletePod", ref(t, admin, &pods.Items[0], false), fast(map[string]string{"gracePeriodSeconds": "0"})), nil)
	requirePhase(t, st, phaseSucceeded, ReasonVerified)

	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr.To[int32](1), MaxReplicas: 3,
		},
	}
	require.NoError(t, admin.Create(ctx, hpa))
	st = e.Execute(ctx, directive("PatchHPA", ref(t, admin, hpa, false), fast(map[string]string{"maxReplicas": "5"})), nil)
	requirePhase(t, st, phaseSucceeded, ReasonVerified)

	// A restore needs its rights too.
	failing := engine(t, c, ns, func(o *Options) {
		o.Verifier = VerifierFunc(func(context.Context, *fleetv1.DirectivePayload) (bool, string, error) {
			return false, "still broken", nil
		})
	})
	st = failing.Execute(ctx, directive("ApplyManifests", ref(t, admin, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "new", Namespace: ns}}, false),
		map[string]string{"manifests": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: new}\n", "verifyTimeout": "3s", "verifyStableFor": "1s"}), nil)
	requirePhase(t, st, phaseRolledBack, ReasonVerificationFailed)
}

// restrictedClient is a client for a service account bound to RequiredRules and LedgerRules only.
func restrictedClient(t *testing.T, admin client.Client, ns string) client.Client {
	t.Helper()
	ctx := testContext(t)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns}}
	require.NoError(t, admin.Create(ctx, sa))
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ns + "-executor"}, Rules: RequiredRules()}
	require.NoError(t, admin.Create(ctx, role))
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-executor"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: ns}},
	}
	require.NoError(t, admin.Create(ctx, binding))
	t.Cleanup(func() {
		_ = admin.Delete(context.Background(), binding)
		_ = admin.Delete(context.Background(), role)
	})
	ledgerRole := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "ledger", Namespace: ns}, Rules: LedgerRules()}
	require.NoError(t, admin.Create(ctx, ledgerRole))
	require.NoError(t, admin.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "ledger", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: ledgerRole.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: ns}},
	}))
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	require.NoError(t, admin.SubResource("token").Create(ctx, sa, tr))
	require.NotEmpty(t, tr.Status.Token)
	cfg := &rest.Config{Host: cluster.Config.Host, BearerToken: tr.Status.Token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: cluster.Config.CAFile}, QPS: 100, Burst: 200}
	c, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	require.NoError(t, err)
	err = c.List(ctx, &corev1.SecretList{}, client.InNamespace(ns))
	require.True(t, apierrors.IsForbidden(err), "the account holds only the listed rights: %v", err)
	return c
}
