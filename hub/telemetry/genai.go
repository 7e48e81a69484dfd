package telemetry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	// v1.41.0 is the newest semantic-convention release in otel that still carries the gen_ai
	// attributes; only those keys are taken from it.
	genai "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// GenAI semantic-convention attribute keys of AI-call spans.
const (
	GenAIOperationNameKey     = genai.GenAIOperationNameKey
	GenAIProviderNameKey      = genai.GenAIProviderNameKey
	GenAIRequestModelKey      = genai.GenAIRequestModelKey
	GenAIResponseModelKey     = genai.GenAIResponseModelKey
	GenAIUsageInputTokensKey  = genai.GenAIUsageInputTokensKey
	GenAIUsageOutputTokensKey = genai.GenAIUsageOutputTokensKey
	// ErrorTypeKey is error.type, set on a failed call.
	ErrorTypeKey = attribute.Key("error.type")
)

// Operation names (gen_ai.operation.name) the hub's engines use.
const (
	OperationChat            = "chat"
	OperationGenerateContent = "generate_content"
	OperationInvokeAgent     = "invoke_agent" // a Jules session works as an agent
)

// Provider names (gen_ai.provider.name). The conventions name well-known providers; the others
// are the project's own, as the conventions allow.
const (
	ProviderOpenAI  = "openai"
	ProviderJules   = "google.jules"
	ProviderBuiltin = "kubedevaiops.builtin"
)

// GenAICall describes one call to an AI engine.
type GenAICall struct {
	Operation string // gen_ai.operation.name, e.g. OperationChat
	Provider  string // gen_ai.provider.name, e.g. ProviderOpenAI
	Model     string // gen_ai.request.model; may be empty
}

// Attributes are the call's GenAI attributes.
func (c GenAICall) Attributes() []attribute.KeyValue {
	attrs := []attribute.KeyValue{GenAIOperationNameKey.String(c.Operation), GenAIProviderNameKey.String(c.Provider)}
	if c.Model != "" {
		attrs = append(attrs, GenAIRequestModelKey.String(c.Model))
	}
	return attrs
}

// StartGenAI starts the span of an AI call, named "{operation} {model}" as the conventions
// ask; a client span for a remote provider, internal for the built-in engine.
func StartGenAI(ctx context.Context, tracer trace.Tracer, call GenAICall, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	name := call.Operation
	if call.Model != "" {
		name += " " + call.Model
	}
	kind := trace.SpanKindClient
	if call.Provider == ProviderBuiltin {
		kind = trace.SpanKindInternal
	}
	return tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(append(call.Attributes(), attrs...)...))
}

// SetGenAIUsage records the tokens a call used, and the model that answered when known.
func SetGenAIUsage(span trace.Span, inputTokens, outputTokens int64, responseModel string) {
	span.SetAttributes(GenAIUsageInputTokensKey.Int64(inputTokens), GenAIUsageOutputTokensKey.Int64(outputTokens))
	if responseModel != "" {
		span.SetAttributes(GenAIResponseModelKey.String(responseModel))
	}
}

// SetGenAIError marks a failed call: error.type is the error's kind (a short low-cardinality
// name such as "timeout" or "schema_invalid"), the status carries the message.
func SetGenAIError(span trace.Span, errorType string, err error) {
	if err == nil {
		return
	}
	span.SetAttributes(ErrorTypeKey.String(errorType))
	span.SetStatus(codes.Error, fmt.Sprintf("%s: %v", errorType, err))
}
