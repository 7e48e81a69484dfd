package onboard

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	julesserver "github.com/kubedevaiops/kubedevaiops/test/extapi/jules"
)

func session(patch string) *hubv1alpha1.JulesSession {
	js := &hubv1alpha1.JulesSession{ObjectMeta: metav1.ObjectMeta{Name: "jules-20260105-001"}}
	if patch != "" {
		js.Status.Patch = &hubv1alpha1.JulesPatch{UnidiffPatch: patch, SHA256: sha256Hex(patch), Size: int64(len(patch)), Files: []string{"x"}}
	}
	return js
}

func application(cluster string) *aiopsv1alpha1.ManagedApplication {
	return &aiopsv1alpha1.ManagedApplication{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "shop"},
		Spec: aiopsv1alpha1.ManagedApplicationSpec{Cluster: cluster}}
}

func newFile(path, content string) string {
	return julesserver.NewFileDiff(julesserver.File{Path: path, Content: content})
}

func TestDryRunOfTheOnboardingPatch(t *testing.T) {
	dr, err := dryRunOf(session(julesserver.OnboardingPatch("acme", "shop")), application("prod-eu"))
	require.NoError(t, err)
	assert.Equal(t, []string{"Deployment/shop", "Service/shop", "PodDisruptionBudget/shop"}, dr.objects)
	a := dr.action
	assert.Equal(t, aiopsv1alpha1.ActionApplyManifests, a.Type)
	assert.Equal(t, "prod-eu", a.Cluster)
	assert.Equal(t, hubv1alpha1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "shop"}, a.Target)
	assert.Equal(t, 3, strings.Count(a.Parameters["manifests"], "apiVersion:"), "the CI workflow is not a manifest")
	assert.Contains(t, dr.summary, "server-side dry-run on cluster prod-eu in namespace shop")
	assert.NotEmpty(t, dr.findings, "the patch's objects lack the instance label: shown, not refused")
}

func TestDryRunOfRefuses(t *testing.T) {
	truncated := session("x")
	truncated.Status.Patch.Truncated, truncated.Status.Patch.UnidiffPatch = true, ""
	for name, tc := range map[string]struct {
		js   *hubv1alpha1.JulesSession
		app  *aiopsv1alpha1.ManagedApplication
		want string
	}{
		"no cluster":            {session(julesserver.OnboardingPatch("acme", "shop")), application(""), "names no cluster"},
		"no patch":              {session(""), application("c"), "without a patch"},
		"a truncated patch":     {truncated, application("c"), "only its digest"},
		"no manifests":          {session(newFile("README.md", "# shop\n") + newFile(".github/workflows/ci.yaml", "name: ci\non: [push]\n")), application("c"), "creates no Kubernetes manifests"},
		"another namespace":     {session(newFile("k8s/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: kube-system\n")), application("c"), `namespace "kube-system" is not "shop"`},
		"a cluster-scoped kind": {session(newFile("k8s/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n")), application("c"), "cluster-scoped"},
		"an RBAC object":        {session(newFile("k8s/role.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\n")), application("c"), "not allowed"},
		"a corrupt patch":       {session("diff --git a/a.yaml b/a.yaml\nnew file mode 100644\n--- /dev/null\n+++ b/a.yaml\n@@ -0,0 +1,3 @@\n+kind: x\n"), application("c"), "truncated"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := dryRunOf(tc.js, tc.app)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestAllows(t *testing.T) {
	apply := aiopsv1alpha1.AllowedAction{Type: aiopsv1alpha1.ActionApplyManifests, Risk: aiopsv1alpha1.RiskLow}
	pol := func(a aiopsv1alpha1.AutonomyLevel, actions ...aiopsv1alpha1.AllowedAction) *aiopsv1alpha1.AIOpsPolicy {
		return &aiopsv1alpha1.AIOpsPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: aiopsv1alpha1.AIOpsPolicySpec{Autonomy: a, AllowedActions: actions}}
	}
	assert.Contains(t, allows(nil, "c"), "no AIOpsPolicy governs cluster c")
	assert.Contains(t, allows(pol(aiopsv1alpha1.AutonomyObserve, apply), "c"), "only observes")
	assert.Contains(t, allows(pol(aiopsv1alpha1.AutonomyRecommend), "c"), "does not allow ApplyManifests")
	assert.Empty(t, allows(pol(aiopsv1alpha1.AutonomyRecommend, apply), "c"))
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
