package telemetry

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGenAISpans(t *testing.T) {
	tel := localHub(t)
	ctx, root := tel.Tracer().Start(context.Background(), "diagnose")
	for _, tc := range []struct {
		call     GenAICall
		err      error
		wantName string
		wantKind string
	}{
		{GenAICall{Operation: OperationChat, Provider: ProviderOpenAI, Model: "gpt-x"}, nil, "chat gpt-x", "client"},
		{GenAICall{Operation: OperationInvokeAgent, Provider: ProviderJules}, errors.New("HTTP 503"), "invoke_agent", "client"},
		{GenAICall{Operation: OperationGenerateContent, Provider: ProviderBuiltin, Model: "rules-v1"}, nil, "generate_content rules-v1", "internal"},
	} {
		_, span := StartGenAI(ctx, tel.Tracer(), tc.call)
		SetGenAIUsage(span, 120, 45, tc.call.Model)
		SetGenAIError(span, "unavailable", tc.err)
		span.End()
	}
	root.End()

	spans := tel.Store().Trace(root.SpanContext().TraceID().String())
	require.Len(t, spans, 4)
	byName := map[string]Span{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	chat := byName["chat gpt-x"]
	assert.Equal(t, "client", chat.Kind)
	assert.Equal(t, map[string]string{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-x",
		"gen_ai.response.model": "gpt-x", "gen_ai.usage.input_tokens": "120", "gen_ai.usage.output_tokens": "45",
	}, chat.Attributes)
	assert.Equal(t, "unset", chat.Status)

	jules := byName["invoke_agent"]
	assert.Equal(t, "google.jules", jules.Attributes["gen_ai.provider.name"])
	assert.NotContains(t, jules.Attributes, "gen_ai.request.model")
	assert.Equal(t, "unavailable", jules.Attributes["error.type"])
	assert.Equal(t, "error", jules.Status)

	assert.Equal(t, "internal", byName["generate_content rules-v1"].Kind)
}
