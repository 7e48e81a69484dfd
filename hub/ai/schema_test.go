package ai_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai"
)

// strictCompatible checks what strict structured-output modes demand of every object: all
// properties required, no others allowed.
func strictCompatible(t *testing.T, path string, node map[string]any) {
	t.Helper()
	switch node["type"] {
	case "object":
		props, _ := node["properties"].(map[string]any)
		var names []string
		for n := range props {
			names = append(names, n)
		}
		var req []string
		for _, r := range node["required"].([]any) {
			req = append(req, r.(string))
		}
		slices.Sort(names)
		slices.Sort(req)
		assert.Equal(t, names, req, "%s: every property must be required", path)
		assert.Equal(t, false, node["additionalProperties"], "%s: additionalProperties must be false", path)
		for n, p := range props {
			strictCompatible(t, path+"."+n, p.(map[string]any))
		}
	case "array":
		strictCompatible(t, path+"[]", node["items"].(map[string]any))
	}
}

// sample is a document with every property of the schema.
func sample(node map[string]any) any {
	switch node["type"] {
	case "object":
		out := map[string]any{}
		for n, p := range node["properties"].(map[string]any) {
			out[n] = sample(p.(map[string]any))
		}
		return out
	case "array":
		return []any{sample(node["items"].(map[string]any))}
	case "number":
		return 0.5
	}
	if e, ok := node["enum"].([]any); ok {
		return e[0]
	}
	return "x"
}

func TestSchemas(t *testing.T) {
	types := map[ai.Task]any{
		ai.TaskDiagnose: &ai.DiagnosisProposal{}, ai.TaskPlan: &ai.PlanProposal{}, ai.TaskManifests: &ai.ManifestsProposal{},
		ai.TaskExplain: &ai.ExplainAnswer{}, ai.TaskAnswer: &ai.QuestionAnswer{},
	}
	for _, task := range ai.AllTasks() {
		t.Run(string(task), func(t *testing.T) {
			raw, err := ai.Schema(task)
			require.NoError(t, err)
			again, _ := ai.Schema(task)
			assert.Equal(t, raw, again, "schema bytes are stable")
			var s map[string]any
			require.NoError(t, json.Unmarshal(raw, &s))
			strictCompatible(t, string(task), s)
			assert.Regexp(t, `^[A-Za-z0-9_-]{1,64}$`, ai.SchemaName(task))

			// The schema's property names are the Go types' JSON names, both ways.
			doc, err := json.Marshal(sample(s))
			require.NoError(t, err)
			dec := json.NewDecoder(bytes.NewReader(doc))
			dec.DisallowUnknownFields()
			require.NoError(t, dec.Decode(types[task]), "a document with every schema property decodes into the Go type")
			back, err := json.Marshal(types[task])
			require.NoError(t, err)
			var keys map[string]any
			require.NoError(t, json.Unmarshal(back, &keys))
			for k := range keys {
				assert.Contains(t, s["properties"], k, "Go field %s is in the schema", k)
			}
		})
	}

	raw, _ := ai.Schema(ai.TaskPlan)
	var plan struct {
		Properties struct {
			Remediations struct {
				Items struct {
					Properties struct {
						Action struct {
							Enum []aiopsv1alpha1.ActionType `json:"enum"`
						} `json:"action"`
					} `json:"properties"`
				} `json:"items"`
			} `json:"remediations"`
		} `json:"properties"`
	}
	require.NoError(t, json.Unmarshal(raw, &plan))
	assert.Equal(t, aiopsv1alpha1.AllActionTypes, plan.Properties.Remediations.Items.Properties.Action.Enum)

	_, err := ai.Schema("summarise")
	assert.Error(t, err)
}
