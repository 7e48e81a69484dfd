package openai_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/accounting"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/anonymize"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/openai"
	srv "github.com/kubedevaiops/kubedevaiops/test/extapi/openai"
)

// plantedKey is recognisable anywhere it might leak.
const plantedKey = "sk-PLANTED-kubedevaiops-0123456789abcdefXYZ"

// fleetKnown are the fleet's real names in the test material.
func fleetKnown() anonymize.Known {
	return anonymize.Known{Clusters: []string{"prod-eu-1"}, Namespaces: []string{"payments"}, Workloads: []string{"checkout"}, Nodes: []string{"worker-7"}}
}

// material mentions, in this order, the workload, namespace, cluster, node and an address, and
// holds the key itself and a password; the placeholders are therefore <workload-1>,
// <namespace-1>, <cluster-1>, <node-1>, <ip-1>.
const material = `{"workload":"checkout","namespace":"payments","cluster":"prod-eu-1","node":"worker-7",
"evidence":"dial tcp 10.20.30.40:5432: connection refused; env OPENAI_KEY=` + plantedKey + ` DB_PASSWORD=hunter2",
"owner":"oncall@example.com","rootCause":"OutOfMemory"}`

// realValues must never reach the server.
func realValues() []string {
	return []string{"checkout", "payments", "prod-eu-1", "worker-7", "10.20.30.40", plantedKey, "hunter2", "oncall@example.com"}
}

type harness struct {
	server   *srv.Server
	provider *openai.Provider
	key      atomic.Value // string
	keyCalls atomic.Int64
	spans    *tracetest.InMemoryExporter
	logs     *syncBuffer
	sleeps   *[]time.Duration
	reg      *prometheus.Registry
	cache    *accounting.Cache
	meter    *accounting.Meter
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type setup struct {
	serverKey string // "" : the server needs no key
	noKeys    bool   // the provider has no key source
	cfg       func(*openai.Config)
	meterCfg  accounting.MeterConfig
	keys      openai.KeySource
}

func newHarness(t *testing.T, s setup) *harness {
	t.Helper()
	h := &harness{logs: &syncBuffer{}, spans: tracetest.NewInMemoryExporter(), reg: prometheus.NewPedanticRegistry()}
	h.server = srv.Start(srv.Config{APIKey: s.serverKey, Models: []string{"gpt-test"}})
	t.Cleanup(h.server.Close)
	h.key.Store(s.serverKey)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(h.spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	var err error
	h.cache, err = accounting.NewCache(accounting.CacheConfig{}, h.reg)
	require.NoError(t, err)
	h.meter, err = accounting.NewMeter(s.meterCfg, h.reg)
	require.NoError(t, err)
	sleeps := []time.Duration{}
	h.sleeps = &sleeps
	var mu sync.Mutex
	zero := 0.0
	cfg := openai.Config{BaseURL: h.server.URL, Model: "gpt-test", Temperature: &zero, MaxTokens: 400}
	if s.cfg != nil {
		s.cfg(&cfg)
	}
	keys := s.keys
	if keys == nil && !s.noKeys {
		keys = openai.KeyFunc(func(context.Context) (string, error) {
			h.keyCalls.Add(1)
			return h.key.Load().(string), nil
		})
	}
	h.provider, err = openai.New(cfg, keys, openai.Options{
		Tracer: tp.Tracer("test"),
		Logger: slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Cache:  h.cache, Meter: h.meter,
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			defer mu.Unlock()
			*h.sleeps = append(*h.sleeps, d)
			return ctx.Err()
		},
	})
	require.NoError(t, err)
	return h
}

func (h *harness) explain(t *testing.T) (openai.Explanation, openai.CallInfo, error) {
	t.Helper()
	return h.provider.Explain(context.Background(), openai.ExplainRequest{Subject: "diagnosis", Material: material, Known: fleetKnown()})
}

// action is a suggested action in the wire form the schema asks for.
func action(typ, kind, ns, name string, params ...[2]string) map[string]any {
	ps := []map[string]string{}
	for _, p := range params {
		ps = append(ps, map[string]string{"name": p[0], "value": p[1]})
	}
	return map[string]any{"type": typ, "cluster": "<cluster-1>", "kind": kind, "namespace": ns, "name": name, "parameters": ps, "reason": "memory grows until the OOM kill"}
}

func explanation(actions ...map[string]any) map[string]any {
	if actions == nil {
		actions = []map[string]any{}
	}
	return map[string]any{"summary": "<workload-1> in <namespace-1> runs out of memory on <node-1>",
		"details": "The database at <ip-1> refuses connections; see <secret-1>.", "confidence": 0.8, "suggestedActions": actions}
}

func TestExplainRestoresAndLeaksNothing(t *testing.T) {
	h := newHarness(t, setup{serverKey: plantedKey})
	h.server.Script(srv.JSON(explanation(action("SetResources", "Deployment", "<namespace-1>", "<workload-1>",
		[2]string{"memoryLimit", "768Mi"}, [2]string{"container", "app"}))))

	got, info, err := h.explain(t)
	require.NoError(t, err)
	assert.Equal(t, "checkout in payments runs out of memory on worker-7", got.Summary)
	assert.Equal(t, "The database at 10.20.30.40 refuses connections; see <secret-1>.", got.Details, "secrets are never restored")
	assert.InDelta(t, 0.8, got.Confidence, 1e-9)
	require.Len(t, got.Actions, 1)
	a := got.Actions[0]
	assert.Equal(t, aiopsv1alpha1.ActionSetResources, a.Type)
	assert.Equal(t, "prod-eu-1", a.Cluster)
	assert.Equal(t, "apps/v1", a.Target.APIVersion)
	assert.Equal(t, "Deployment", a.Target.Kind)
	assert.Equal(t, "payments", a.Target.Namespace)
	assert.Equal(t, "checkout", a.Target.Name)
	assert.Equal(t, map[string]string{"memoryLimit": "768Mi", "container": "app"}, a.Parameters)
	assert.False(t, info.Cached)
	assert.Equal(t, "gpt-test", info.ResponseModel)
	assert.Positive(t, info.InputTokens)
	assert.Positive(t, info.OutputTokens)

	reqs := h.server.Requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	require.NotNil(t, r.Chat, "the server accepted the body, strict schema included")
	assert.Equal(t, "Bearer "+plantedKey, r.Header.Get("Authorization"))
	for name, values := range r.Header {
		if name != "Authorization" {
			assert.NotContains(t, strings.Join(values, " "), plantedKey, "header %s", name)
		}
	}
	for _, v := range realValues() {
		assert.NotContains(t, string(r.Body), v, "the prompt is anonymised")
	}
	user := r.Chat.Messages[1].Content
	assert.Contains(t, user, `"workload":"<workload-1>","namespace":"<namespace-1>","cluster":"<cluster-1>","node":"<node-1>"`)
	assert.Contains(t, user, "<ip-1>:5432")
	assert.Equal(t, "system", r.Chat.Messages[0].Role)
	require.NotNil(t, r.Chat.MaxCompletionTokens)
	assert.Equal(t, 400, *r.Chat.MaxCompletionTokens)
	assert.Nil(t, r.Chat.MaxTokens)
	require.NotNil(t, r.Chat.Temperature)
	assert.Zero(t, *r.Chat.Temperature)
	require.NotNil(t, r.Chat.ResponseFormat)
	assert.Equal(t, "json_schema", r.Chat.ResponseFormat.Type)
	assert.Equal(t, "kubedevaiops_explanation", r.Chat.ResponseFormat.JSONSchema.Name)
	assert.True(t, *r.Chat.ResponseFormat.JSONSchema.Strict)

	// The span follows the GenAI conventions.
	spans := h.spans.GetSpans()
	require.Len(t, spans, 1)
	attrs := map[string]any{}
	for _, kv := range spans[0].Attributes {
		attrs[string(kv.Key)] = kv.Value.AsInterface()
	}
	assert.Equal(t, "chat gpt-test", spans[0].Name)
	assert.Equal(t, "chat", attrs["gen_ai.operation.name"])
	assert.Equal(t, "openai", attrs["gen_ai.provider.name"])
	assert.Equal(t, "gpt-test", attrs["gen_ai.request.model"])
	assert.Equal(t, "gpt-test", attrs["gen_ai.response.model"])
	assert.Equal(t, info.InputTokens, attrs["gen_ai.usage.input_tokens"])
	assert.Equal(t, info.OutputTokens, attrs["gen_ai.usage.output_tokens"])
	assert.Equal(t, []string{"stop"}, attrs["gen_ai.response.finish_reasons"])
	assert.Equal(t, "127.0.0.1", attrs["server.address"])
	assert.Equal(t, "explain", attrs["kubedevaiops.ai.task"])
	assert.Equal(t, false, attrs["kubedevaiops.ai.cached"])

	assert.Equal(t, float64(info.InputTokens), testutil.ToFloat64(h.metric(t, "kubedevaiops_ai_tokens_total", "openai", "gpt-test", "input")))
	assert.Equal(t, 1.0, testutil.ToFloat64(h.metric(t, "kubedevaiops_ai_requests_total", "openai", "ok")))
	h.assertNoLeak(t, plantedKey, nil)
}

// metric finds one series of the registry's collectors by its label values.
func (h *harness) metric(t *testing.T, name string, labels ...string) prometheus.Collector {
	t.Helper()
	families, err := h.reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var vals []string
			for _, l := range m.GetLabel() {
				vals = append(vals, l.GetValue())
			}
			if sameSet(vals, labels) {
				v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
				return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x", Help: "x"}, func() float64 { return v })
			}
		}
	}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x", Help: "x"}, func() float64 { return 0 })
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	count := map[string]int{}
	for _, x := range a {
		count[x]++
	}
	for _, x := range b {
		count[x]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

// assertNoLeak searches every log line, span (attributes, events, status) and the error for
// the key.
func (h *harness) assertNoLeak(t *testing.T, key string, err error) {
	t.Helper()
	assert.NotContains(t, h.logs.String(), key, "logs")
	assert.NotContains(t, h.logs.String(), key[:12], "logs hold no part of the key")
	for _, s := range h.spans.GetSpans() {
		dump := fmt.Sprintf("%s %v %v %v", s.Name, s.Attributes, s.Events, s.Status)
		assert.NotContains(t, dump, key, "span %s", s.Name)
		assert.NotContains(t, dump, key[:12], "span %s", s.Name)
	}
	if err != nil {
		assert.NotContains(t, err.Error(), key, "error")
		assert.NotContains(t, err.Error(), key[:12], "error")
		var ia *openai.InvalidAnswerError
		if errors.As(err, &ia) {
			assert.NotContains(t, ia.Content, key)
		}
	}
}

func TestAskAnswersWithReferences(t *testing.T) {
	h := newHarness(t, setup{})
	h.server.Script(srv.JSON(map[string]any{
		"answer": "<workload-1> restarted 4 times on <cluster-1>", "answerable": true, "confidence": 0.6,
		"references": []map[string]string{{"cluster": "<cluster-1>", "kind": "Deployment", "namespace": "<namespace-1>", "name": "<workload-1>"},
			{"cluster": "", "kind": "Node", "namespace": "", "name": "<node-1>"}},
		"suggestedActions": []any{action("ScaleWorkload", "Deployment", "<namespace-1>", "<workload-1>", [2]string{"replicas", "3"})},
	}))
	got, _, err := h.provider.Ask(context.Background(), openai.QuestionRequest{
		Question: "Why does checkout keep restarting?", Context: "checkout payments prod-eu-1 worker-7", Known: fleetKnown()})
	require.NoError(t, err)
	assert.Equal(t, "checkout restarted 4 times on prod-eu-1", got.Text)
	assert.True(t, got.Answerable)
	assert.Equal(t, []openai.Reference{{Cluster: "prod-eu-1", Kind: "Deployment", Namespace: "payments", Name: "checkout"},
		{Kind: "Node", Name: "worker-7"}}, got.References)
	require.Len(t, got.Actions, 1)
	assert.Equal(t, map[string]string{"replicas": "3"}, got.Actions[0].Parameters)
	r := h.server.Requests()[0]
	assert.Empty(t, r.Header.Get("Authorization"), "no key, no header")
	assert.Equal(t, "kubedevaiops_answer", r.Chat.ResponseFormat.JSONSchema.Name)
	assert.Contains(t, r.Chat.Messages[1].Content, "Question: Why does <workload-1> keep restarting?")
}

func TestInvalidAnswersAreRefused(t *testing.T) {
	valid, err := json.Marshal(explanation())
	require.NoError(t, err)
	withField := explanation()
	withField["extra"] = "x"
	tooSure := explanation()
	tooSure["confidence"] = 1.5
	tests := []struct {
		name   string
		reply  srv.Reply
		reason error
		detail string
	}{
		{"garbage", srv.Text("Sure! Here is the explanation you asked for."), openai.ErrInvalidAnswer, "not JSON"},
		{"fenced JSON", srv.Text("```json\n" + string(valid) + "\n```"), openai.ErrInvalidAnswer, "not JSON"},
		{"two values", srv.Text(string(valid) + string(valid)), openai.ErrInvalidAnswer, "more data after the JSON value"},
		{"truncated", srv.Truncated(string(valid)), openai.ErrTruncated, "finish_reason length"},
		{"cut-off JSON that says stop", srv.Text(string(valid[:len(valid)-3])), openai.ErrInvalidAnswer, "not JSON"},
		{"empty", srv.Text(""), openai.ErrInvalidAnswer, "empty content"},
		{"refusal", srv.Refused("I can't help with that."), openai.ErrRefused, "I can't help with that."},
		{"tool call", srv.Reply{ToolCall: "kubectl"}, openai.ErrNotImplemented, "tool_calls"},
		{"content filter", srv.Reply{Content: "{", FinishReason: "content_filter"}, openai.ErrContentFilter, "content_filter"},
		{"unknown finish reason", srv.Reply{Content: string(valid), FinishReason: "exploded"}, openai.ErrInvalidAnswer, `unknown finish_reason "exploded"`},
		{"unknown field", srv.JSON(withField), openai.ErrInvalidAnswer, `$: unknown field "extra"`},
		{"missing field", srv.Text(`{"summary":"x","details":"","confidence":0.1}`), openai.ErrInvalidAnswer, `required field "suggestedActions" is missing`},
		{"duplicate key", srv.Text(`{"summary":"x","summary":"y","details":"","confidence":0.1,"suggestedActions":[]}`), openai.ErrInvalidAnswer, `key "summary" appears twice`},
		{"wrong type", srv.Text(`{"summary":"x","details":"","confidence":"high","suggestedActions":[]}`), openai.ErrInvalidAnswer, "$.confidence: want a number"},
		{"confidence out of range", srv.JSON(tooSure), openai.ErrOutOfRange, "$.confidence: 1.5 is outside 0..1"},
		{"unknown action type", srv.JSON(explanation(action("DeleteCluster", "Deployment", "<namespace-1>", "<workload-1>"))), openai.ErrUnknownAction,
			`$.suggestedActions[0].type: "DeleteCluster" is not one of`},
		{"manifests are not this provider's", srv.JSON(explanation(action("ApplyManifests", "Deployment", "<namespace-1>", "<workload-1>"))), openai.ErrUnknownAction, "ApplyManifests"},
		{"replicas out of range", srv.JSON(explanation(action("ScaleWorkload", "Deployment", "<namespace-1>", "<workload-1>", [2]string{"replicas", "5000"}))),
			openai.ErrOutOfRange, "replicas 5000 is outside 1..100"},
		{"memory out of range", srv.JSON(explanation(action("SetResources", "Deployment", "<namespace-1>", "<workload-1>", [2]string{"memoryLimit", "4Ti"}))),
			openai.ErrOutOfRange, "memoryLimit 4Ti is outside (0, 256Gi]"},
		{"request above limit", srv.JSON(explanation(action("SetResources", "Deployment", "<namespace-1>", "<workload-1>", [2]string{"cpuRequest", "2"}, [2]string{"cpuLimit", "1"}))),
			openai.ErrOutOfRange, "cpuRequest 2 is above cpuLimit 1"},
		{"hpa min above max", srv.JSON(explanation(action("PatchHPA", "HorizontalPodAutoscaler", "<namespace-1>", "<workload-1>", [2]string{"minReplicas", "9"}, [2]string{"maxReplicas", "3"}))),
			openai.ErrOutOfRange, "minReplicas 9 is above maxReplicas 3"},
		{"parameter of another action", srv.JSON(explanation(action("RestartWorkload", "Deployment", "<namespace-1>", "<workload-1>", [2]string{"replicas", "2"}))),
			openai.ErrInvalidAnswer, `RestartWorkload takes no parameter "replicas"`},
		{"missing parameter", srv.JSON(explanation(action("ScaleWorkload", "Deployment", "<namespace-1>", "<workload-1>"))), openai.ErrInvalidAnswer, "ScaleWorkload needs replicas"},
		{"wrong kind for the action", srv.JSON(explanation(action("DeletePod", "Deployment", "<namespace-1>", "<workload-1>"))), openai.ErrInvalidAnswer, "DeletePod acts on Pod, not on a Deployment"},
		{"invented workload", srv.JSON(explanation(action("RestartWorkload", "Deployment", "<namespace-1>", "billing"))), openai.ErrUnknownTarget, `$.suggestedActions[0].name "billing"`},
		{"invented placeholder", srv.JSON(explanation(action("RestartWorkload", "Deployment", "<namespace-7>", "<workload-1>"))), openai.ErrInvalidAnswer, "is not a namespace name"},
		{"secret as a target", srv.JSON(explanation(action("RestartWorkload", "Deployment", "<namespace-1>", "<secret-1>"))), openai.ErrInvalidAnswer, "is not an object name"},
		{"too many actions", srv.JSON(explanation(action("RestartWorkload", "Deployment", "<namespace-1>", "<workload-1>"), action("RestartWorkload", "Deployment", "<namespace-1>", "<workload-1>"),
			action("RestartWorkload", "Deployment", "<namespace-1>", "<workload-1>"), action("RestartWorkload", "Deployment", "<namespace-1>", "<workload-1>"),
			action("RestartWorkload", "Deployment", "<namespace-1>", "<workload-1>"), action("RestartWorkload", "Deployment", "<namespace-1>", "<workload-1>"))),
			openai.ErrOutOfRange, "6 items, more than 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, setup{serverKey: plantedKey})
			h.server.Script(tt.reply)
			_, info, err := h.explain(t)
			require.ErrorIs(t, err, tt.reason)
			var ia *openai.InvalidAnswerError
			require.ErrorAs(t, err, &ia)
			assert.Contains(t, err.Error(), tt.detail)
			for _, v := range realValues() {
				assert.NotContains(t, ia.Content, v, "refused content is kept anonymised, for the audit")
				assert.NotContains(t, err.Error(), v)
			}
			assert.Equal(t, 1, len(h.server.Requests()), "a refused answer is not retried")
			assert.Zero(t, h.cache.Len(), "a refused answer is not cached")
			outcome := openai.ErrorType(err)
			assert.Equal(t, 1.0, testutil.ToFloat64(h.metric(t, "kubedevaiops_ai_requests_total", "openai", outcome)), outcome)
			assert.Equal(t, float64(info.InputTokens), testutil.ToFloat64(h.metric(t, "kubedevaiops_ai_tokens_total", "openai", "gpt-test", "input")),
				"tokens of a refused answer are still counted")
			spans := h.spans.GetSpans()
			require.Len(t, spans, 1)
			assert.Equal(t, "Error", spans[0].Status.Code.String())
			h.assertNoLeak(t, plantedKey, err)
		})
	}
}

func TestRetries(t *testing.T) {
	ok := srv.JSON(explanation())
	tests := []struct {
		name     string
		replies  []srv.Reply
		cfg      func(*openai.Config)
		reason   error // nil: the call succeeds
		sleeps   []time.Duration
		requests int
	}{
		{"429 honours Retry-After", []srv.Reply{srv.RateLimited("2"), ok}, nil, nil, []time.Duration{2 * time.Second}, 2},
		{"retry-after-ms wins", []srv.Reply{{Status: 429, RetryAfter: "5", RetryAfterMs: "1500", ErrType: "requests", ErrCode: "rate_limit_exceeded"}, ok}, nil, nil,
			[]time.Duration{1500 * time.Millisecond}, 2},
		{"5xx back off exponentially", []srv.Reply{srv.ServerError(), {Status: 503, RawBody: "<html>unavailable</html>"}, ok}, nil, nil,
			[]time.Duration{500 * time.Millisecond, time.Second}, 3},
		{"bounded attempts", []srv.Reply{srv.ServerError(), srv.ServerError(), srv.ServerError()}, func(c *openai.Config) { c.MaxAttempts = 3 },
			openai.ErrServerError, []time.Duration{500 * time.Millisecond, time.Second}, 3},
		{"backoff is capped", []srv.Reply{srv.ServerError(), srv.ServerError(), srv.ServerError(), ok},
			func(c *openai.Config) { c.InitialBackoff, c.MaxBackoff = time.Second, 1500*time.Millisecond }, nil,
			[]time.Duration{time.Second, 1500 * time.Millisecond, 1500 * time.Millisecond}, 4},
		{"too long a Retry-After is not waited for", []srv.Reply{srv.RateLimited("3600")}, nil, openai.ErrRateLimited, []time.Duration{}, 1},
		{"exhausted quota is not retried", []srv.Reply{srv.QuotaExceeded()}, nil, openai.ErrQuotaExceeded, []time.Duration{}, 1},
		{"bad request is not retried", []srv.Reply{{Status: 400, ErrType: "invalid_request_error", ErrMessage: "nope"}}, nil, openai.ErrBadRequest, []time.Duration{}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, setup{serverKey: plantedKey, cfg: tt.cfg})
			h.server.Script(tt.replies...)
			_, _, err := h.explain(t)
			if tt.reason == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.reason)
				var apiErr *openai.APIError
				require.ErrorAs(t, err, &apiErr)
				assert.NotEmpty(t, apiErr.RequestID)
			}
			assert.Equal(t, tt.sleeps, *h.sleeps)
			assert.Len(t, h.server.Requests(), tt.requests)
			retries := 0
			for _, e := range h.spans.GetSpans()[0].Events {
				if e.Name == "retry" {
					retries++
				}
			}
			assert.Equal(t, len(tt.sleeps), retries, "one span event per retry")
			h.assertNoLeak(t, plantedKey, err)
		})
	}
}

func TestKeys(t *testing.T) {
	t.Run("a wrong key is refused and never repeated", func(t *testing.T) {
		h := newHarness(t, setup{serverKey: "sk-the-right-key-0000000000000"})
		h.key.Store(plantedKey)
		_, _, err := h.explain(t)
		require.ErrorIs(t, err, openai.ErrUnauthorized)
		assert.Contains(t, err.Error(), "401 Unauthorized (invalid_api_key): Incorrect API key provided: [redacted]")
		assert.Len(t, h.server.Requests(), 1, "the same key is not tried again")
		h.assertNoLeak(t, plantedKey, err)
	})
	t.Run("a key rotated during a call is picked up", func(t *testing.T) {
		h := newHarness(t, setup{serverKey: plantedKey})
		h.server.Script(srv.JSON(explanation()))
		h.server.SetAPIKey("sk-rotated-key-1111111111111111")
		// The provider still holds the old key for its first attempt, then the source has the new one.
		calls := 0
		h.provider = mustProvider(t, h, openai.KeyFunc(func(context.Context) (string, error) {
			calls++
			if calls <= 2 { // anonymisation and the first attempt
				return plantedKey, nil
			}
			return "sk-rotated-key-1111111111111111", nil
		}))
		_, _, err := h.explain(t)
		require.NoError(t, err)
		reqs := h.server.Requests()
		require.Len(t, reqs, 2)
		assert.Equal(t, http.StatusUnauthorized, reqs[0].Status)
		assert.Equal(t, "Bearer sk-rotated-key-1111111111111111", reqs[1].Header.Get("Authorization"))
		assert.Empty(t, *h.sleeps, "no backoff for a fresh key")
	})
	t.Run("the next call uses a new key version", func(t *testing.T) {
		h := newHarness(t, setup{serverKey: plantedKey})
		h.server.Script(srv.JSON(explanation()), srv.JSON(map[string]any{"answer": "x", "answerable": false, "confidence": 0, "references": []any{}, "suggestedActions": []any{}}))
		_, _, err := h.explain(t)
		require.NoError(t, err)
		h.server.SetAPIKey("sk-version-2-22222222222222")
		h.key.Store("sk-version-2-22222222222222")
		_, _, err = h.provider.Ask(context.Background(), openai.QuestionRequest{Question: "why?"})
		require.NoError(t, err)
		assert.Equal(t, "Bearer sk-version-2-22222222222222", h.server.Requests()[1].Header.Get("Authorization"))
	})
	t.Run("a failing key source stops the call", func(t *testing.T) {
		h := newHarness(t, setup{serverKey: plantedKey, keys: openai.KeyFunc(func(context.Context) (string, error) {
			return "", errors.New("vault: permission denied reading secret/data/ai/openai")
		})})
		_, _, err := h.explain(t)
		require.ErrorIs(t, err, openai.ErrCredentials)
		assert.Contains(t, err.Error(), "vault: permission denied")
		assert.Empty(t, h.server.Requests(), "nothing is sent without a key")
		assert.Equal(t, "credentials", openai.ErrorType(err))
	})
	t.Run("a server echoing the whole key", func(t *testing.T) {
		h := newHarness(t, setup{serverKey: plantedKey})
		h.server.Script(srv.Reply{Status: 400, ErrType: "invalid_request_error", ErrMessage: "bad key " + plantedKey + " and " + plantedKey[3:20]})
		_, _, err := h.explain(t)
		require.ErrorIs(t, err, openai.ErrBadRequest)
		h.assertNoLeak(t, plantedKey, err)
	})
}

func mustProvider(t *testing.T, h *harness, keys openai.KeySource) *openai.Provider {
	t.Helper()
	zero := 0.0
	p, err := openai.New(openai.Config{BaseURL: h.server.URL, Model: "gpt-test", Temperature: &zero, MaxTokens: 400}, keys, openai.Options{
		Sleep: func(_ context.Context, d time.Duration) error { *h.sleeps = append(*h.sleeps, d); return nil },
	})
	require.NoError(t, err)
	return p
}

func TestCacheServesRepeatedInputs(t *testing.T) {
	h := newHarness(t, setup{serverKey: plantedKey})
	h.server.Script(srv.JSON(explanation(action("RestartWorkload", "Deployment", "<namespace-1>", "<workload-1>"))))
	first, info1, err := h.explain(t)
	require.NoError(t, err)
	second, info2, err := h.explain(t)
	require.NoError(t, err)
	assert.Equal(t, first, second)
	assert.False(t, info1.Cached)
	assert.True(t, info2.Cached)
	assert.Equal(t, info1.Digest, info2.Digest)
	assert.Len(t, h.server.Requests(), 1, "the second answer came from the cache")

	// Another fleet whose anonymised input is the same gets the cached answer with its own names.
	other := strings.NewReplacer("checkout", "cart", "payments", "shop", "prod-eu-1", "stage-us-2", "worker-7", "node-b").Replace(material)
	got, info3, err := h.provider.Explain(context.Background(), openai.ExplainRequest{Subject: "diagnosis", Material: other, Known: anonymize.Known{
		Clusters: []string{"stage-us-2"}, Namespaces: []string{"shop"}, Workloads: []string{"cart"}, Nodes: []string{"node-b"}}})
	require.NoError(t, err)
	assert.True(t, info3.Cached)
	assert.Equal(t, "cart in shop runs out of memory on node-b", got.Summary)
	assert.Equal(t, "stage-us-2", got.Actions[0].Cluster)
	assert.Equal(t, "cart", got.Actions[0].Target.Name)
	assert.Len(t, h.server.Requests(), 1)

	assert.Equal(t, 2.0, testutil.ToFloat64(h.metric(t, "kubedevaiops_ai_cache_hits_total", "openai")))
	assert.Equal(t, 1.0, testutil.ToFloat64(h.metric(t, "kubedevaiops_ai_cache_misses_total", "openai")))
	assert.Equal(t, 2.0, testutil.ToFloat64(h.metric(t, "kubedevaiops_ai_requests_total", "openai", "cached")))
	assert.Equal(t, 1.0, testutil.ToFloat64(h.metric(t, "kubedevaiops_ai_requests_total", "openai", "ok")))
	assert.Equal(t, float64(info1.InputTokens), testutil.ToFloat64(h.metric(t, "kubedevaiops_ai_tokens_total", "openai", "gpt-test", "input")), "cached answers cost nothing")
	spans := h.spans.GetSpans()
	require.Len(t, spans, 3, "a cached answer is traced too")
	for _, kv := range spans[1].Attributes {
		if kv.Key == "kubedevaiops.ai.cached" {
			assert.True(t, kv.Value.AsBool())
		}
	}
}

func TestBudgetAndCost(t *testing.T) {
	h := newHarness(t, setup{serverKey: plantedKey, meterCfg: accounting.MeterConfig{
		Prices:  []accounting.Price{{Provider: "openai", Model: "gpt-test", InputPerMillion: 1000, OutputPerMillion: 2000}},
		Budgets: []accounting.Budget{{Provider: "openai", MaxTokens: 100}},
	}})
	h.server.Script(srv.JSON(explanation()))
	_, info, err := h.explain(t)
	require.NoError(t, err)
	require.Greater(t, info.InputTokens+info.OutputTokens, int64(100), "the first call uses the budget up")
	assert.InDelta(t, (float64(info.InputTokens)*1000+float64(info.OutputTokens)*2000)/1e6,
		testutil.ToFloat64(h.metric(t, "kubedevaiops_ai_cost_total", "openai", "gpt-test")), 1e-9)

	_, _, err = h.provider.Ask(context.Background(), openai.QuestionRequest{Question: "and now?"})
	require.ErrorIs(t, err, openai.ErrBudgetExhausted)
	require.ErrorIs(t, err, accounting.ErrBudgetExhausted)
	assert.Len(t, h.server.Requests(), 1, "nothing sent past the budget")
	assert.Equal(t, 1.0, testutil.ToFloat64(h.metric(t, "kubedevaiops_ai_requests_total", "openai", "budget_exhausted")))
}

func TestEndpointForms(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(h *harness) func(*openai.Config)
	}{
		{"base with /v1 and a slash", func(h *harness) func(*openai.Config) {
			return func(c *openai.Config) { c.BaseURL = h.server.URL + "/v1/" }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, setup{})
			p := mustProviderCfg(t, tc.cfg(h))
			h.server.Script(srv.JSON(explanation()))
			_, _, err := p.Explain(context.Background(), openai.ExplainRequest{Material: "x"})
			require.NoError(t, err)
			assert.Equal(t, "/v1/chat/completions", h.server.Requests()[0].Path)
		})
	}
	t.Run("legacy max_tokens, seed, organisation", func(t *testing.T) {
		h := newHarness(t, setup{})
		seed := int64(7)
		p := mustProviderCfg(t, func(c *openai.Config) {
			c.BaseURL, c.LegacyMaxTokens, c.Seed, c.Organization, c.Project = h.server.URL, true, &seed, "org-1", "proj-1"
		})
		h.server.Script(srv.JSON(explanation()))
		_, _, err := p.Explain(context.Background(), openai.ExplainRequest{Material: "x"})
		require.NoError(t, err)
		r := h.server.Requests()[0]
		require.NotNil(t, r.Chat.MaxTokens)
		assert.Equal(t, 1024, *r.Chat.MaxTokens)
		assert.Nil(t, r.Chat.MaxCompletionTokens)
		assert.Equal(t, int64(7), *r.Chat.Seed)
		assert.Equal(t, "org-1", r.Header.Get("OpenAI-Organization"))
		assert.Equal(t, "proj-1", r.Header.Get("OpenAI-Project"))
	})
	t.Run("unknown model", func(t *testing.T) {
		h := newHarness(t, setup{})
		p := mustProviderCfg(t, func(c *openai.Config) { c.BaseURL, c.Model = h.server.URL, "gpt-none" })
		_, _, err := p.Explain(context.Background(), openai.ExplainRequest{Material: "x"})
		require.ErrorIs(t, err, openai.ErrNotFound)
		assert.Contains(t, err.Error(), "model_not_found")
	})
	t.Run("input too large", func(t *testing.T) {
		h := newHarness(t, setup{})
		p := mustProviderCfg(t, func(c *openai.Config) { c.BaseURL, c.MaxInputBytes = h.server.URL, 4096 })
		_, _, err := p.Explain(context.Background(), openai.ExplainRequest{Material: strings.Repeat("log line ", 1000)})
		require.ErrorIs(t, err, openai.ErrInputTooLarge)
		assert.Empty(t, h.server.Requests())
	})
	t.Run("server gone", func(t *testing.T) {
		h := newHarness(t, setup{})
		h.server.Close()
		var sleeps []time.Duration
		p, err := openai.New(openai.Config{BaseURL: h.server.URL, Model: "gpt-test", MaxAttempts: 2}, nil, openai.Options{
			Sleep: func(_ context.Context, d time.Duration) error { sleeps = append(sleeps, d); return nil }})
		require.NoError(t, err)
		_, _, err = p.Explain(context.Background(), openai.ExplainRequest{Material: "x"})
		require.ErrorIs(t, err, openai.ErrTransport)
		assert.Contains(t, err.Error(), "after 2 attempts")
		assert.Len(t, sleeps, 1)
	})
	t.Run("canceled", func(t *testing.T) {
		h := newHarness(t, setup{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, _, err := h.provider.Explain(ctx, openai.ExplainRequest{Material: "x"})
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, "canceled", openai.ErrorType(err))
	})
}

func mustProviderCfg(t *testing.T, edit func(*openai.Config)) *openai.Provider {
	t.Helper()
	cfg := openai.Config{Model: "gpt-test"}
	edit(&cfg)
	p, err := openai.New(cfg, nil, openai.Options{Sleep: func(context.Context, time.Duration) error { return nil }})
	require.NoError(t, err)
	return p
}

func TestConfigErrors(t *testing.T) {
	neg := -1.0
	for name, cfg := range map[string]openai.Config{
		"no base URL":      {Model: "m"},
		"not http":         {BaseURL: "ftp://x", Model: "m"},
		"credentials":      {BaseURL: "https://user:pw@api.example.com", Model: "m"},
		"no model":         {BaseURL: "https://api.example.com"},
		"temperature":      {BaseURL: "https://api.example.com", Model: "m", Temperature: &neg},
		"negative attempt": {BaseURL: "https://api.example.com", Model: "m", MaxAttempts: -1},
	} {
		_, err := openai.New(cfg, nil, openai.Options{})
		assert.Error(t, err, name)
	}
	_, err := openai.New(openai.Config{BaseURL: "https://user:pw@api.example.com", Model: "m"}, nil, openai.Options{})
	assert.NotContains(t, err.Error(), "pw", "the configuration error does not repeat credentials")
}
