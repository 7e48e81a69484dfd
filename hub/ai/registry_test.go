package ai_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubedevaiops/kubedevaiops/hub/ai"
	"github.com/kubedevaiops/kubedevaiops/hub/diagnose"
)

func TestRegistryDiagnose(t *testing.T) {
	all := []ai.Task{ai.TaskDiagnose, ai.TaskExplain, ai.TaskAnswer}
	overConfident := func() *ai.DiagnoseAnswer {
		a, err := ai.ParseDiagnosis([]byte(goodDiagnosis), diagnoseRequest(), "ext/m")
		require.NoError(t, err)
		a.Diagnosis.Confidence = 1.5 // what a provider that skipped the parser could hand over
		return &a
	}()
	tests := []struct {
		name        string
		routes      []string
		forbid      ai.ExternalPolicy
		providers   []*provider
		provider    string
		fellBack    bool
		reason      string // substring of FallbackReason
		outcomes    []ai.Outcome
		calls       []int // per provider
		inputTokens int64
	}{
		{name: "no route: the built-in engine", provider: ai.BuiltinName,
			outcomes: []ai.Outcome{ai.OutcomeAnswered}},
		{name: "route picks the external provider", routes: []string{"ext"},
			providers: []*provider{{name: "ext", caps: all, raw: goodDiagnosis}},
			provider:  "ext", outcomes: []ai.Outcome{ai.OutcomeAnswered}, calls: []int{1}, inputTokens: 100},
		{name: "provider error falls back", routes: []string{"ext"},
			providers: []*provider{{name: "ext", caps: all, err: errBackend}},
			provider:  ai.BuiltinName, fellBack: true, reason: "ext failed: backend: 503",
			outcomes: []ai.Outcome{ai.OutcomeFailed, ai.OutcomeAnswered}, calls: []int{1}, inputTokens: 100},
		{name: "truncated JSON falls back", routes: []string{"ext"},
			providers: []*provider{{name: "ext", caps: all, raw: goodDiagnosis[:60]}},
			provider:  ai.BuiltinName, fellBack: true, reason: "ext invalid: diagnosis: invalid answer: answer JSON is truncated",
			outcomes: []ai.Outcome{ai.OutcomeInvalid, ai.OutcomeAnswered}, calls: []int{1}, inputTokens: 100},
		{name: "unknown action type falls back", routes: []string{"ext"},
			providers: []*provider{{name: "ext", caps: all, raw: replace(goodDiagnosis, "RollbackWorkload", "RebootNode")}},
			provider:  ai.BuiltinName, fellBack: true, reason: `unknown action type "RebootNode"`,
			outcomes: []ai.Outcome{ai.OutcomeInvalid, ai.OutcomeAnswered}, calls: []int{1}, inputTokens: 100},
		{name: "out-of-range value falls back", routes: []string{"ext"},
			providers: []*provider{{name: "ext", caps: all, raw: replace(goodDiagnosis, `"value":"3"`, `"value":"-2"`)}},
			provider:  ai.BuiltinName, fellBack: true, reason: "toRevision=-2 is out of range",
			outcomes: []ai.Outcome{ai.OutcomeInvalid, ai.OutcomeAnswered}, calls: []int{1}, inputTokens: 100},
		{name: "missing field falls back", routes: []string{"ext"},
			providers: []*provider{{name: "ext", caps: all, raw: replace(goodDiagnosis, `"confidence":0.8,`, ``)}},
			provider:  ai.BuiltinName, fellBack: true, reason: "diagnosis: confidence missing",
			outcomes: []ai.Outcome{ai.OutcomeInvalid, ai.OutcomeAnswered}, calls: []int{1}, inputTokens: 100},
		{name: "another namespace falls back", routes: []string{"ext"},
			providers: []*provider{{name: "ext", caps: all, raw: replace(goodDiagnosis, `"namespace":"shop"`, `"namespace":"kube-system"`)}},
			provider:  ai.BuiltinName, fellBack: true, reason: `in namespace "kube-system", not the incident's "shop"`,
			outcomes: []ai.Outcome{ai.OutcomeInvalid, ai.OutcomeAnswered}, calls: []int{1}, inputTokens: 100},
		{name: "an answer that skipped the parser is still validated", routes: []string{"ext"},
			providers: []*provider{{name: "ext", caps: all, dx: overConfident}},
			provider:  ai.BuiltinName, fellBack: true, reason: "confidence 1.5 is outside [0, 1]",
			outcomes: []ai.Outcome{ai.OutcomeInvalid, ai.OutcomeAnswered}, calls: []int{1}, inputTokens: 100},
		{name: "a panicking provider falls back", routes: []string{"ext"},
			providers: []*provider{{name: "ext", caps: all, panic: true}},
			provider:  ai.BuiltinName, fellBack: true, reason: "provider ext panicked",
			outcomes: []ai.Outcome{ai.OutcomeFailed, ai.OutcomeAnswered}, calls: []int{1}},
		{name: "forbidden cluster: the provider is never asked", routes: []string{"ext"},
			forbid:    ai.ExternalPolicy{Clusters: []string{"east"}},
			providers: []*provider{{name: "ext", caps: all, raw: goodDiagnosis}},
			provider:  ai.BuiltinName, fellBack: true, reason: "ext forbidden: external providers are forbidden for cluster east",
			outcomes: []ai.Outcome{ai.OutcomeForbidden, ai.OutcomeAnswered}, calls: []int{0}},
		{name: "forbidden cluster set: the provider is never asked", routes: []string{"ext"},
			forbid:    ai.ExternalPolicy{ClusterSets: []string{"prod"}},
			providers: []*provider{{name: "ext", caps: all, raw: goodDiagnosis}},
			provider:  ai.BuiltinName, fellBack: true, reason: "forbidden for cluster set prod",
			outcomes: []ai.Outcome{ai.OutcomeForbidden, ai.OutcomeAnswered}, calls: []int{0}},
		{name: "other clusters are not affected by the policy", routes: []string{"ext"},
			forbid:    ai.ExternalPolicy{Clusters: []string{"west"}, ClusterSets: []string{"dev"}},
			providers: []*provider{{name: "ext", caps: all, raw: goodDiagnosis}},
			provider:  "ext", outcomes: []ai.Outcome{ai.OutcomeAnswered}, calls: []int{1}, inputTokens: 100},
		{name: "second provider answers when the first fails", routes: []string{"a", "b"},
			providers: []*provider{{name: "a", caps: all, err: errBackend}, {name: "b", caps: all, raw: goodDiagnosis}},
			provider:  "b", fellBack: true, reason: "a failed",
			outcomes: []ai.Outcome{ai.OutcomeFailed, ai.OutcomeAnswered}, calls: []int{1, 1}, inputTokens: 200},
		{name: "builtin in a route ends it", routes: []string{ai.BuiltinName, "ext"},
			providers: []*provider{{name: "ext", caps: all, raw: goodDiagnosis}},
			provider:  ai.BuiltinName, outcomes: []ai.Outcome{ai.OutcomeAnswered}, calls: []int{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ai.Config{ExternalForbidden: tc.forbid}
			if tc.routes != nil {
				cfg.Routes = map[ai.Task][]string{ai.TaskDiagnose: tc.routes}
			}
			var engines []ai.Engine
			for _, p := range tc.providers {
				engines = append(engines, p)
			}
			reg, err := ai.NewRegistry(cfg, newBuiltin(), engines...)
			require.NoError(t, err)
			res, err := reg.Diagnose(context.Background(), diagnoseRequest())
			require.NoError(t, err)
			assert.Equal(t, tc.provider, res.Provider)
			assert.Equal(t, tc.fellBack, res.FellBack)
			assert.Contains(t, res.FallbackReason, tc.reason)
			var outcomes []ai.Outcome
			for _, a := range res.Attempts {
				outcomes = append(outcomes, a.Outcome)
			}
			assert.Equal(t, tc.outcomes, outcomes)
			for i, p := range tc.providers {
				assert.Equal(t, tc.calls[i], p.calls, "calls of %s", p.name)
			}
			assert.Equal(t, tc.inputTokens, res.Usage.InputTokens)
			d := res.Answer.Diagnosis
			assert.Equal(t, "east", d.Cluster)
			require.NotEmpty(t, d.Remediations)
			if tc.provider == ai.BuiltinName {
				assert.Equal(t, diagnose.Engine, d.Engine)
				assert.Equal(t, diagnose.Engine, res.Model)
			} else {
				assert.Equal(t, tc.provider+"-model", res.Model)
				assert.Equal(t, diagnose.CategoryBadRollout, d.Category)
			}
			if tc.fellBack {
				assert.Contains(t, res.Note(), "Answered by "+tc.provider+" because ")
			} else {
				assert.Empty(t, res.Note())
			}
			attrs := map[string]any{}
			for _, kv := range res.Attributes() {
				attrs[string(kv.Key)] = kv.Value.AsInterface()
			}
			assert.Equal(t, tc.fellBack, attrs["kubedevaiops.ai.fell_back"])
			assert.Equal(t, ai.GenAIProviderName(tc.provider), attrs["gen_ai.provider.name"])
		})
	}
}

func TestRegistryPicksProviderPerTask(t *testing.T) {
	ext := &provider{name: "ext", caps: []ai.Task{ai.TaskExplain, ai.TaskAnswer},
		raw: `{"summary":"The plan rolls web back.","points":["Revision 4 broke it."]}`}
	reg, err := ai.NewRegistry(ai.Config{Routes: map[ai.Task][]string{ai.TaskExplain: {"ext"}}}, newBuiltin(), ext)
	require.NoError(t, err)
	assert.Equal(t, []string{"ext", ai.BuiltinName}, reg.Route(ai.TaskExplain))
	assert.Equal(t, []string{ai.BuiltinName}, reg.Route(ai.TaskDiagnose))

	d, err := diagnose.Diagnose(crashInput())
	require.NoError(t, err)
	res, err := reg.Explain(context.Background(), ai.ExplainRequest{Diagnosis: &d})
	require.NoError(t, err)
	assert.Equal(t, "ext", res.Provider)
	assert.Equal(t, "The plan rolls web back.", res.Answer.Summary)

	// Not routed: the built-in engine answers, the provider is not asked.
	q, err := reg.Answer(context.Background(), ai.QuestionRequest{Question: "what is wrong with cluster east?", View: emptyView{}})
	require.NoError(t, err)
	assert.Equal(t, ai.BuiltinName, q.Provider)
	assert.Equal(t, 1, ext.calls)
}

func TestRegistryInvalidAnswersOfOtherTasksFallBack(t *testing.T) {
	d, err := diagnose.Diagnose(crashInput())
	require.NoError(t, err)
	tests := []struct {
		name, raw, reason string
	}{
		{"garbage", `Sure! Here is the explanation you asked for.`, "not the expected JSON"},
		{"empty summary", `{"summary":"  ","points":[]}`, "explanation: summary is empty"},
		{"unknown field", `{"summary":"ok","points":[],"action":"DeletePod"}`, `unknown field "action"`},
		{"trailing data", `{"summary":"ok","points":[]} {"summary":"again","points":[]}`, "data after its JSON value"},
		{"points missing", `{"summary":"ok"}`, "points missing"},
		{"control character", "{\"summary\":\"ok\\u0007\",\"points\":[]}", "control character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ext := &provider{name: "ext", caps: []ai.Task{ai.TaskExplain}, raw: tc.raw}
			reg, err := ai.NewRegistry(ai.Config{Routes: map[ai.Task][]string{ai.TaskExplain: {"ext"}}}, newBuiltin(), ext)
			require.NoError(t, err)
			res, err := reg.Explain(context.Background(), ai.ExplainRequest{Diagnosis: &d})
			require.NoError(t, err)
			assert.Equal(t, ai.BuiltinName, res.Provider)
			assert.True(t, res.FellBack)
			assert.Contains(t, res.FallbackReason, tc.reason)
			assert.Equal(t, ai.OutcomeInvalid, res.Attempts[0].Outcome)
			assert.Contains(t, res.Answer.Summary, "Diagnosis of pod/CrashLoopBackOff/Error")
		})
	}
}

func TestRegistryErrors(t *testing.T) {
	ctx := context.Background()
	reg, err := ai.NewRegistry(ai.Config{}, newBuiltin())
	require.NoError(t, err)

	_, err = reg.Diagnose(ctx, ai.DiagnoseRequest{})
	assert.ErrorContains(t, err, "diagnose request: no finding")

	// The built-in engine cannot answer an unknown question form either: an error that says
	// what it can answer, with the provider's failure.
	ext := &provider{name: "ext", caps: []ai.Task{ai.TaskAnswer}, err: errBackend}
	reg, err = ai.NewRegistry(ai.Config{Routes: map[ai.Task][]string{ai.TaskAnswer: {"ext"}}}, newBuiltin(), ext)
	require.NoError(t, err)
	_, err = reg.Answer(ctx, ai.QuestionRequest{Question: "how are you?", View: emptyView{}})
	assert.ErrorIs(t, err, ai.ErrUnknownQuestion)
	assert.ErrorContains(t, err, "ext failed: backend: 503")
	assert.ErrorContains(t, err, "I can answer: why did plan PLAN")
}

func TestNewRegistryRefusesBadConfig(t *testing.T) {
	explainer := &provider{name: "ext", caps: []ai.Task{ai.TaskExplain}}
	tests := []struct {
		name      string
		cfg       ai.Config
		builtin   ai.Engine
		providers []ai.Engine
		want      string
	}{
		{"unknown provider", ai.Config{Routes: map[ai.Task][]string{ai.TaskExplain: {"gpt"}}}, newBuiltin(), nil, `unknown provider "gpt"`},
		{"provider lacks the task", ai.Config{Routes: map[ai.Task][]string{ai.TaskDiagnose: {"ext"}}}, newBuiltin(), []ai.Engine{explainer}, "provider ext does not do diagnose"},
		{"unknown task", ai.Config{Routes: map[ai.Task][]string{"summarise": {"ext"}}}, newBuiltin(), []ai.Engine{explainer}, `unknown task "summarise"`},
		{"empty route", ai.Config{Routes: map[ai.Task][]string{ai.TaskExplain: {}}}, newBuiltin(), nil, "no providers"},
		{"repeated provider", ai.Config{Routes: map[ai.Task][]string{ai.TaskExplain: {"ext", "ext"}}}, newBuiltin(), []ai.Engine{explainer}, "ext named twice"},
		{"bad cluster name", ai.Config{ExternalForbidden: ai.ExternalPolicy{Clusters: []string{"East Coast"}}}, newBuiltin(), nil, "not a cluster or cluster set name"},
		{"no built-in engine", ai.Config{}, explainer, nil, `must be named "builtin"`},
		{"name taken", ai.Config{}, newBuiltin(), []ai.Engine{explainer, &provider{name: "ext"}}, `"ext" is empty or taken`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ai.NewRegistry(tc.cfg, tc.builtin, tc.providers...)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestAllowed(t *testing.T) {
	reg, err := ai.NewRegistry(ai.Config{ExternalForbidden: ai.ExternalPolicy{Clusters: []string{"bank"}, ClusterSets: []string{"regulated"}}}, newBuiltin())
	require.NoError(t, err)
	tests := []struct {
		provider, cluster string
		sets              []string
		want              bool
	}{
		{"openai", "shop", []string{"prod"}, true},
		{"openai", "bank", nil, false},
		{"jules", "shop", []string{"prod", "regulated"}, false},
		{ai.BuiltinName, "bank", []string{"regulated"}, true},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, reg.Allowed(tc.provider, tc.cluster, tc.sets), "%s for %s %v", tc.provider, tc.cluster, tc.sets)
	}
	ok, why := reg.AllowedScope("openai", ai.Scope{Clusters: []string{"shop", "bank"}})
	assert.False(t, ok)
	assert.Equal(t, "external providers are forbidden for cluster bank", why)

	ok, why = reg.AllowedScope("openai", ai.Scope{Clusters: []string{"shop"}, ExternalForbiddenBy: "AIOpsPolicy strict"})
	assert.False(t, ok, "a policy's externalAI: Forbidden")
	assert.Contains(t, why, "AIOpsPolicy strict")
	ok, _ = reg.AllowedScope(ai.BuiltinName, ai.Scope{Clusters: []string{"shop"}, ExternalForbiddenBy: "AIOpsPolicy strict"})
	assert.True(t, ok, "the built-in engine is never external")
}

func TestParseRoute(t *testing.T) {
	var cfg ai.Config
	require.NoError(t, cfg.SetRoute("explain=openai, builtin"))
	require.NoError(t, cfg.SetRoute("plan=jules"))
	assert.Equal(t, map[ai.Task][]string{ai.TaskExplain: {"openai", "builtin"}, ai.TaskPlan: {"jules"}}, cfg.Routes)
	for _, bad := range []string{"explain", "talk=openai", "explain=", "explain=openai,,jules"} {
		assert.Error(t, cfg.SetRoute(bad), bad)
	}
}
