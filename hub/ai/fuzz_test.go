package ai_test

import (
	"slices"
	"testing"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai"
)

// The fuzz targets feed arbitrary bytes to the parsers of external answers. The parsers must
// never panic, and whatever they accept must pass the validators again and name only known
// action types: nothing unvalidated gets through. Run one with e.g.
//
//	go test ./hub/ai -run '^$' -fuzz FuzzParseDiagnosis -fuzztime 30s
//
// The seeds run as ordinary tests.

func FuzzParseDiagnosis(f *testing.F) {
	for _, s := range []string{
		goodDiagnosis, goodDiagnosis[:40], `{}`, `null`, `[]`, `{"category":"BadRollout"}`,
		replace(goodDiagnosis, "RollbackWorkload", "ScaleWorkload"),
		replace(goodDiagnosis, `"toRevision"`, `"replicas"`),
		replace(goodDiagnosis, `0.9`, `1e308`),
		replace(goodDiagnosis, `"web"}`, `"web","uid":"x"}`),
		`{"category":"Unknown","symptom":"Unknown","confidence":0,"hypothesis":"?","remediations":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req := diagnoseRequest()
		a, err := ai.ParseDiagnosis(data, req, "fuzz/m")
		if err != nil {
			return
		}
		if err := ai.ValidateDiagnosis(req, a); err != nil {
			t.Fatalf("accepted an answer that does not validate: %v", err)
		}
		for _, r := range a.Diagnosis.Remediations {
			if !slices.Contains(aiopsv1alpha1.AllActionTypes, r.Action) {
				t.Fatalf("accepted unknown action %q", r.Action)
			}
		}
	})
}

func FuzzParsePlan(f *testing.F) {
	for _, s := range []string{
		`{"summary":"Roll back.","remediations":[{"action":"RollbackWorkload","target":{"kind":"Deployment","namespace":"shop","name":"web"},"parameters":[{"name":"toRevision","value":"3"}],"rationale":"r","confidence":0.7}]}`,
		`{"summary":"Nothing.","remediations":[]}`,
		`{"summary":"Scale.","remediations":[{"action":"ScaleWorkload","target":{"kind":"Deployment","namespace":"shop","name":"web"},"parameters":[{"name":"replicas","value":"99999"}],"rationale":"r","confidence":0.7}]}`,
		`{"summary":"x","remediations":[{"action":"PatchHPA","target":{"kind":"HorizontalPodAutoscaler","namespace":"shop","name":"web"},"parameters":[{"name":"maxReplicas","value":"4"},{"name":"maxReplicas","value":"5"}],"rationale":"r","confidence":0.7}]}`,
		`{"summary":"x","remediations":[{"action":"ApplyManifests","target":{"kind":"ConfigMap","namespace":"shop","name":"c"},"parameters":[{"name":"manifests","value":"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"}],"rationale":"r","confidence":0.7}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req := ai.PlanRequest{Input: crashInput()}
		a, err := ai.ParsePlan(data, req)
		if err != nil {
			return
		}
		if err := ai.ValidatePlan(req, a); err != nil {
			t.Fatalf("accepted a plan that does not validate: %v", err)
		}
	})
}

func FuzzParseExplanation(f *testing.F) {
	for _, s := range []string{`{"summary":"ok","points":["a","b"]}`, `{"summary":"","points":[]}`, `{"summary":"ok"`, "\"\\u0000\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ai.ParseExplanation(data)
		if err == nil {
			if err := ai.ValidateExplanation(a); err != nil {
				t.Fatalf("accepted an explanation that does not validate: %v", err)
			}
		}
	})
}

func FuzzParseQuestionAnswer(f *testing.F) {
	for _, s := range []string{`{"answer":"Two clusters.","facts":["east","west"]}`, `{"answer":"x","facts":null}`, `{"answer":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ai.ParseQuestionAnswer(data)
		if err == nil {
			if err := ai.ValidateQuestionAnswer(a); err != nil {
				t.Fatalf("accepted an answer that does not validate: %v", err)
			}
		}
	})
}

func FuzzParseManifests(f *testing.F) {
	for _, s := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: other\n",
		"---\n---\n", "kind: [", "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\n",
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := ai.ParseManifests(data, "shop")
		if err != nil {
			return
		}
		if len(objs) == 0 || len(objs) > ai.MaxManifestObjects {
			t.Fatalf("accepted %d objects", len(objs))
		}
		for _, o := range objs {
			if o.GetNamespace() != "shop" || o.GetName() == "" || o.GetKind() == "" {
				t.Fatalf("accepted %s %s in %q", o.GetKind(), o.GetName(), o.GetNamespace())
			}
		}
		_ = ai.CheckBestPractices(objs) // must not panic on whatever parsed
	})
}
