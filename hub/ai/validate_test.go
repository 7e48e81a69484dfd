package ai_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai"
	"github.com/kubedevaiops/kubedevaiops/hub/diagnose"
)

func TestValidateRemediation(t *testing.T) {
	web := diagnose.ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web"}
	pod := diagnose.ObjectRef{Version: "v1", Kind: "Pod", Namespace: "shop", Name: "web-1"}
	hpa := diagnose.ObjectRef{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler", Namespace: "shop", Name: "web"}
	r := func(a aiopsv1alpha1.ActionType, target diagnose.ObjectRef, params map[string]string) diagnose.Remediation {
		return diagnose.Remediation{Action: a, Target: target, Parameters: params, Rationale: "because", Prior: 0.5, Confidence: 0.5, LowerBound: 0.2}
	}
	manifest := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  a: b\n"
	tests := []struct {
		name string
		rem  diagnose.Remediation
		want string // "" = valid
	}{
		{"restart", r(aiopsv1alpha1.ActionRestartWorkload, web, nil), ""},
		{"rollback to a revision", r(aiopsv1alpha1.ActionRollbackWorkload, web, map[string]string{"toRevision": "3", "verifyTimeout": "90s"}), ""},
		{"scale", r(aiopsv1alpha1.ActionScaleWorkload, web, map[string]string{"replicas": "4"}), ""},
		{"set resources", r(aiopsv1alpha1.ActionSetResources, web, map[string]string{"container": "app", "memoryRequest": "256Mi", "memoryLimit": "768Mi"}), ""},
		{"delete pod", r(aiopsv1alpha1.ActionDeletePod, pod, map[string]string{"gracePeriodSeconds": "30"}), ""},
		{"patch hpa", r(aiopsv1alpha1.ActionPatchHPA, hpa, map[string]string{"minReplicas": "2", "maxReplicas": "12"}), ""},
		{"apply manifests", r(aiopsv1alpha1.ActionApplyManifests, diagnose.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "web-config"}, map[string]string{"manifests": manifest}), ""},
		{"a kind only, as the engine infers it", r(aiopsv1alpha1.ActionRestartWorkload, diagnose.ObjectRef{Kind: "Deployment", Namespace: "shop", Name: "web"}, nil), ""},

		{"unknown action", r("RebootNode", web, nil), `unknown action type "RebootNode"`},
		{"wrong kind", r(aiopsv1alpha1.ActionDeletePod, web, nil), `DeletePod cannot act on a "Deployment"`},
		{"daemonset cannot scale", r(aiopsv1alpha1.ActionScaleWorkload, diagnose.ObjectRef{Kind: "DaemonSet", Namespace: "shop", Name: "agent"}, map[string]string{"replicas": "2"}), "cannot act on a \"DaemonSet\""},
		{"wrong group", r(aiopsv1alpha1.ActionRestartWorkload, diagnose.ObjectRef{Group: "extensions", Kind: "Deployment", Namespace: "shop", Name: "web"}, nil), `group "extensions" is not "apps"`},
		{"bad version", r(aiopsv1alpha1.ActionRestartWorkload, diagnose.ObjectRef{Group: "apps", Version: "1", Kind: "Deployment", Namespace: "shop", Name: "web"}, nil), "not a Kubernetes API version"},
		{"no name", r(aiopsv1alpha1.ActionRestartWorkload, diagnose.ObjectRef{Kind: "Deployment", Namespace: "shop"}, nil), "not a Kubernetes name"},
		{"bad name", r(aiopsv1alpha1.ActionRestartWorkload, diagnose.ObjectRef{Kind: "Deployment", Namespace: "shop", Name: "Web App"}, nil), "not a Kubernetes name"},
		{"other namespace", r(aiopsv1alpha1.ActionRestartWorkload, diagnose.ObjectRef{Kind: "Deployment", Namespace: "kube-system", Name: "coredns"}, nil), "not the incident's \"shop\""},
		{"no namespace", r(aiopsv1alpha1.ActionRestartWorkload, diagnose.ObjectRef{Kind: "Deployment", Name: "web"}, nil), "not a namespace name"},
		{"unknown parameter", r(aiopsv1alpha1.ActionRestartWorkload, web, map[string]string{"force": "true"}), `unknown parameter "force"`},
		{"replicas not a number", r(aiopsv1alpha1.ActionScaleWorkload, web, map[string]string{"replicas": "many"}), "not an integer"},
		{"replicas too many", r(aiopsv1alpha1.ActionScaleWorkload, web, map[string]string{"replicas": "100000"}), "out of range [0, 10000]"},
		{"replicas missing", r(aiopsv1alpha1.ActionScaleWorkload, web, nil), "replicas is required"},
		{"revision zero", r(aiopsv1alpha1.ActionRollbackWorkload, web, map[string]string{"toRevision": "0"}), "out of range"},
		{"memory not a quantity", r(aiopsv1alpha1.ActionSetResources, web, map[string]string{"memoryLimit": "lots"}), "not a quantity"},
		{"memory too big", r(aiopsv1alpha1.ActionSetResources, web, map[string]string{"memoryLimit": "1Ti"}), "out of range"},
		{"cpu negative", r(aiopsv1alpha1.ActionSetResources, web, map[string]string{"cpuLimit": "-1"}), "out of range"},
		{"request above limit", r(aiopsv1alpha1.ActionSetResources, web, map[string]string{"cpuRequest": "2", "cpuLimit": "1"}), "cpuRequest 2 exceeds cpuLimit 1"},
		{"set resources without a value", r(aiopsv1alpha1.ActionSetResources, web, map[string]string{"container": "app"}), "needs at least one of"},
		{"hpa min above max", r(aiopsv1alpha1.ActionPatchHPA, hpa, map[string]string{"minReplicas": "5", "maxReplicas": "2"}), "minReplicas 5 exceeds maxReplicas 2"},
		{"hpa without bounds", r(aiopsv1alpha1.ActionPatchHPA, hpa, nil), "needs minReplicas or maxReplicas"},
		{"verify timeout too long", r(aiopsv1alpha1.ActionRestartWorkload, web, map[string]string{"verifyTimeout": "2h"}), "out of range"},
		{"stable not shorter than timeout", r(aiopsv1alpha1.ActionRestartWorkload, web, map[string]string{"verifyTimeout": "1m", "verifyStableFor": "1m"}), "shorter than verifyTimeout"},
		{"manifests into kube-system", r(aiopsv1alpha1.ActionApplyManifests, diagnose.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "web-config"},
			map[string]string{"manifests": manifest + "  namespace: kube-system\n"}), ""},
		{"manifests with RBAC", r(aiopsv1alpha1.ActionApplyManifests, diagnose.ObjectRef{Kind: "ClusterRole", Namespace: "shop", Name: "root"},
			map[string]string{"manifests": "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: root\n"}), "rbac.authorization.k8s.io is not allowed"},
		{"manifests without the target", r(aiopsv1alpha1.ActionApplyManifests, diagnose.ObjectRef{Kind: "Deployment", Namespace: "shop", Name: "web"}, map[string]string{"manifests": manifest}), "none of the manifests' objects"},
		{"confidence NaN", func() diagnose.Remediation {
			x := r(aiopsv1alpha1.ActionRestartWorkload, web, nil)
			x.Confidence = math.NaN()
			return x
		}(), "outside [0, 1]"},
		{"empty rationale", func() diagnose.Remediation {
			x := r(aiopsv1alpha1.ActionRestartWorkload, web, nil)
			x.Rationale = ""
			return x
		}(), "rationale is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ai.ValidateRemediation(tc.rem, "shop")
			if tc.name == "manifests into kube-system" {
				// The namespace line lands in the ConfigMap's data, not its metadata: still valid.
				// A real cross-namespace object is refused by ParseManifests, below.
				require.NoError(t, err)
				return
			}
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ai.ErrInvalidAnswer)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestParseManifestsRefuses(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"other namespace", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: kube-system\n", `namespace "kube-system" is not "shop"`},
		{"cluster-scoped", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: evil\n", "cluster-scoped kinds are not allowed"},
		{"no kind", "apiVersion: v1\nmetadata:\n  name: a\n", "Kind' is missing"},
		{"duplicate keys", "apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata:\n  name: a\n", "document 0"},
		{"duplicate objects", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n", "a second object"},
		{"nothing", "# just a comment\n---\n", "no objects"},
		{"not YAML", "{{{", "document 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ai.ParseManifests([]byte(tc.yaml), "shop")
			require.ErrorIs(t, err, ai.ErrInvalidAnswer)
			assert.ErrorContains(t, err, tc.want)
		})
	}
	objs, err := ai.ParseManifests([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n# c\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"), "shop")
	require.NoError(t, err)
	require.Len(t, objs, 2)
	assert.Equal(t, "shop", objs[0].GetNamespace(), "a missing namespace is the application's")
}

func TestParseDiagnosisRanksByFleetKnowledge(t *testing.T) {
	req := diagnoseRequest()
	// Two proposals; the fleet has seen the first fail three times for this signature.
	raw := `{"category":"ApplicationError","symptom":"ApplicationError","confidence":0.5,"hypothesis":"The app crashes.",
	 "remediations":[
	  {"action":"RestartWorkload","target":{"kind":"Deployment","namespace":"shop","name":"web"},"parameters":[],"rationale":"Clear bad state.","confidence":0.6},
	  {"action":"DeletePod","target":{"kind":"Pod","namespace":"shop","name":"web-7d9f8b6c5d-x2k9p"},"parameters":[],"rationale":"Recreate it.","confidence":0.4}]}`
	req.Input.Knowledge = knowledgeEntries("pod/CrashLoopBackOff/Error", aiopsv1alpha1.ActionRestartWorkload, 0, 3)
	a, err := ai.ParseDiagnosis([]byte(raw), req, "ext/m")
	require.NoError(t, err)
	d := a.Diagnosis
	require.Len(t, d.Remediations, 2)
	assert.Equal(t, aiopsv1alpha1.ActionDeletePod, d.Remediations[0].Action, "the fix that failed too often goes last")
	assert.True(t, d.Remediations[1].Unsafe)
	assert.Equal(t, int64(3), d.Remediations[1].Failures)
	assert.Equal(t, "ext/m", d.Engine)
	assert.Equal(t, "pod/CrashLoopBackOff/Error", d.Signature)
	assert.Equal(t, "Deployment", d.Workload.Kind)
	assert.Equal(t, "apps", d.Remediations[1].Target.Group)
}

func TestParseQuestionAndAnswerForms(t *testing.T) {
	tests := []struct {
		q       string
		form    ai.QuestionForm
		subject string
	}{
		{"Why did plan inc-4f2a-1 roll back web?", ai.FormWhyPlan, "inc-4f2a-1"},
		{"why was plan p1 rejected", ai.FormWhyPlan, "p1"},
		{"What is wrong with cluster East-1?", ai.FormClusterProblems, "east-1"},
		{"what's going on in cluster prod", ai.FormClusterProblems, "prod"},
		{"Which clusters run image registry.example.com/shop/web:1.4?", ai.FormImageClusters, "registry.example.com/shop/web:1.4"},
		{"what clusters use the image nginx", ai.FormImageClusters, "nginx"},
		{"What did the fleet learn about signature pod/CrashLoopBackOff/Error?", ai.FormSignatureLearned, "pod/CrashLoopBackOff/Error"},
		{"what has the fleet learned about pod/OOMKilled", ai.FormSignatureLearned, "pod/OOMKilled"},
	}
	for _, tc := range tests {
		q, err := ai.ParseQuestion(tc.q)
		require.NoError(t, err, tc.q)
		assert.Equal(t, tc.form, q.Form, tc.q)
		assert.Equal(t, tc.subject, q.Subject, tc.q)
	}
	_, err := ai.ParseQuestion("delete everything")
	require.ErrorIs(t, err, ai.ErrUnknownQuestion)
	assert.ErrorContains(t, err, "I can answer: why did plan PLAN ...?; what is wrong with cluster CLUSTER?; which clusters run image IMAGE?; what did the fleet learn about signature SIGNATURE?")
}

func TestImageMatches(t *testing.T) {
	tests := []struct {
		running, query string
		want           bool
	}{
		{"nginx:1.27", "nginx", true},
		{"docker.io/library/nginx:1.27", "nginx:1.27", true},
		{"nginx:1.27", "nginx:1.26", false},
		{"nginx", "nginx:latest", true},
		{"registry.example.com:5000/shop/web@sha256:abc", "registry.example.com:5000/shop/web", true},
		{"registry.example.com:5000/shop/web@sha256:abc", "registry.example.com:5000/shop/web@sha256:def", false},
		{"bitnami/redis:7", "docker.io/bitnami/redis", true},
		{"myorg/nginx:1", "nginx", false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, ai.ImageMatches(tc.running, tc.query), "%s ~ %s", tc.running, tc.query)
	}
}
