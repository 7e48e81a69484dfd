package openai

import (
	"encoding/json"
	"math"
	"slices"
	"testing"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/anonymize"
)

func fuzzScope() anonymize.Known {
	return anonymize.Known{Clusters: []string{"prod"}, Namespaces: []string{"payments"}, Workloads: []string{"web"}}
}

const validExplanation = `{"summary":"web runs out of memory","details":"raise the limit","confidence":0.7,"suggestedActions":[
{"type":"SetResources","cluster":"prod","kind":"Deployment","namespace":"payments","name":"web","parameters":[{"name":"memoryLimit","value":"512Mi"}],"reason":"OOM"},
{"type":"PatchHPA","cluster":"","kind":"HorizontalPodAutoscaler","namespace":"payments","name":"web","parameters":[{"name":"maxReplicas","value":"10"}],"reason":"pinned"}]}`

const validAnswer = `{"answer":"web restarted","answerable":true,"confidence":0.5,"references":[{"cluster":"prod","kind":"Pod","namespace":"payments","name":"web-abc"}],
"suggestedActions":[{"type":"ScaleWorkload","cluster":"prod","kind":"Deployment","namespace":"payments","name":"web","parameters":[{"name":"replicas","value":"3"}],"reason":"load"}]}`

// answerSeeds are the shapes the parsers must refuse or accept; they run as normal tests too.
func answerSeeds() []string {
	return []string{
		validExplanation, validAnswer, ``, `null`, `[]`, `{}`, `garbage`, validExplanation[:len(validExplanation)/2],
		`{"summary":"x","details":"","confidence":1.0000001,"suggestedActions":[]}`,
		`{"summary":"x","details":"","confidence":-0,"suggestedActions":[]}`,
		`{"summary":"x","details":"","confidence":1e400,"suggestedActions":[]}`,
		`{"summary":"x","details":"","confidence":0.1,"suggestedActions":[],"x":1}`,
		`{"summary":"x","details":"","confidence":0.1,"suggestedActions":[{"type":"DeleteCluster"}]}`,
		`{"summary":"\ud800","details":"","confidence":0.1,"suggestedActions":[]}`,
		"{\"summary\":\"\xff\",\"details\":\"\",\"confidence\":0.1,\"suggestedActions\":[]}",
		`{"answer":"x","answerable":"yes","confidence":0.5,"references":[],"suggestedActions":[]}`,
		`{"answer":"x","answerable":true,"confidence":0.5,"references":[{"cluster":"","kind":"pod","namespace":"","name":"a"}],"suggestedActions":[]}`,
	}
}

// checkAction holds what every accepted action must satisfy, whatever the input.
func checkAction(t *testing.T, a SuggestedAction, scope anonymize.Known) {
	t.Helper()
	if !slices.Contains(aiopsv1alpha1.AllActionTypes, a.Type) || a.Type == aiopsv1alpha1.ActionApplyManifests {
		t.Fatalf("accepted action type %q", a.Type)
	}
	if !slices.Contains(targetKinds(a.Type), a.Target.Kind) {
		t.Fatalf("accepted %s on a %s", a.Type, a.Target.Kind)
	}
	if a.Cluster != "" && !slices.Contains(scope.Clusters, a.Cluster) || !slices.Contains(scope.Namespaces, a.Target.Namespace) {
		t.Fatalf("accepted a target outside the scope: %+v", a)
	}
	if a.Type == aiopsv1alpha1.ActionScaleWorkload && a.Parameters["replicas"] == "" {
		t.Fatalf("accepted ScaleWorkload without replicas")
	}
}

func FuzzParseExplanation(f *testing.F) {
	for _, s := range answerSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		scope := fuzzScope()
		e, err := ParseExplanation(content, scope)
		if err != nil {
			if _, ok := errorsAsInvalid(err); !ok {
				t.Fatalf("refusal %v is not an InvalidAnswerError", err)
			}
			return
		}
		if !json.Valid(content) {
			t.Fatalf("accepted invalid JSON %q", content)
		}
		if e.Summary == "" || math.IsNaN(e.Confidence) || e.Confidence < 0 || e.Confidence > 1 || len(e.Actions) > MaxSuggestedActions {
			t.Fatalf("accepted out-of-range explanation %+v", e)
		}
		for _, a := range e.Actions {
			checkAction(t, a, scope)
		}
	})
}

func FuzzParseAnswer(f *testing.F) {
	for _, s := range answerSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		scope := fuzzScope()
		a, err := ParseAnswer(content, scope)
		if err != nil {
			if _, ok := errorsAsInvalid(err); !ok {
				t.Fatalf("refusal %v is not an InvalidAnswerError", err)
			}
			return
		}
		if !json.Valid(content) || a.Text == "" || a.Confidence < 0 || a.Confidence > 1 || len(a.References) > MaxReferences {
			t.Fatalf("accepted %q as %+v", content, a)
		}
		for _, r := range a.References {
			if !kindRe.MatchString(r.Kind) || r.Name == "" {
				t.Fatalf("accepted reference %+v", r)
			}
		}
		for _, act := range a.Actions {
			checkAction(t, act, scope)
		}
	})
}

// FuzzChatResponse covers the envelope parser and the finish check: whatever a server sends,
// either an error or a response whose content is whole.
func FuzzChatResponse(f *testing.F) {
	for _, s := range []string{
		`{"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"{}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`,
		`{"object":"chat.completion","choices":[{"message":{"content":"{\"a\""},"finish_reason":"length"}]}`,
		`{"object":"chat.completion","choices":[{"message":{"content":null,"refusal":"no"},"finish_reason":"stop"}]}`,
		`{"object":"chat.completion","choices":[{"message":{"content":null,"tool_calls":[{"id":"x"}]},"finish_reason":"tool_calls"}]}`,
		`{"object":"chat.completion","choices":[]}`, `{"object":"list"}`, `{"usage":{"prompt_tokens":-1}}`, `<html>`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := decodeResponse(raw)
		if err != nil {
			return
		}
		if r.Usage.InputTokens < 0 || r.Usage.OutputTokens < 0 {
			t.Fatalf("negative usage accepted: %+v", r.Usage)
		}
		if err := checkFinish(r); err == nil {
			if r.FinishReason != FinishStop && r.FinishReason != "" || r.Refusal != "" || r.ToolCalls > 0 || r.Content == "" {
				t.Fatalf("accepted an unfinished completion %+v", r)
			}
		}
	})
}

func TestParseValidSeeds(t *testing.T) {
	e, err := ParseExplanation([]byte(validExplanation), fuzzScope())
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Actions) != 2 || e.Actions[1].Target.APIVersion != "autoscaling/v2" || e.Actions[0].Parameters["memoryLimit"] != "512Mi" {
		t.Fatalf("explanation %+v", e)
	}
	a, err := ParseAnswer([]byte(validAnswer), fuzzScope())
	if err != nil {
		t.Fatal(err)
	}
	if !a.Answerable || len(a.References) != 1 || a.Actions[0].Parameters["replicas"] != "3" {
		t.Fatalf("answer %+v", a)
	}
	if _, err := ParseAnswer([]byte(validAnswer), anonymize.Known{Clusters: []string{"other"}}); err == nil {
		t.Fatal("a cluster outside the scope was accepted")
	}
}
