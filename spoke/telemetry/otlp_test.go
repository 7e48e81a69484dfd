package telemetry

import (
	"context"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/kubedevaiops/kubedevaiops/test/otlpreceiver"
)

// everyValue has one attribute of each attribute type, nested ones included.
var everyValue = []attribute.KeyValue{
	{Key: "empty"},
	attribute.Bool("bool", true),
	attribute.Int64("int64", -42),
	attribute.Float64("float64", 3.25),
	attribute.String("string", "crashloop"),
	attribute.BoolSlice("bools", []bool{true, false}),
	attribute.Int64Slice("int64s", []int64{1, -2, 3}),
	attribute.Float64Slice("float64s", []float64{0.5, -1.5}),
	attribute.StringSlice("strings", []string{"a", "b"}),
	attribute.ByteSlice("bytes", []byte{0, 1, 0xfe}),
	attribute.Slice("slice", attribute.StringValue("x"), attribute.Int64Value(7), attribute.SliceValue(attribute.BoolValue(false))),
	attribute.Map("map", attribute.String("k", "v"), attribute.Map("inner", attribute.Float64("f", 1))),
}

// recordSpans makes spans that use every field of a span, under two scopes of one resource.
func recordSpans(t *testing.T) []sdktrace.ReadOnlySpan {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	res := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.43.0",
		attribute.String("service.name", ServiceName), attribute.String("kubedevaiops.cluster", "c1"), attribute.Int64("res.n", 3))
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(rec),
		sdktrace.WithSpanLimits(sdktrace.SpanLimits{
			AttributeValueLengthLimit: -1, AttributeCountLimit: 13, EventCountLimit: 3, LinkCountLimit: 2,
			AttributePerEventCountLimit: 16, AttributePerLinkCountLimit: 1,
		}))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	scoped := tp.Tracer("scope.a", trace.WithInstrumentationVersion("1.2.3"),
		trace.WithSchemaURL("https://opentelemetry.io/schemas/1.40.0"),
		trace.WithInstrumentationAttributes(attribute.String("scope.attr", "s")))
	plain := tp.Tracer("scope.b")

	ts, err := trace.ParseTraceState("vendor=abc,other=1")
	require.NoError(t, err)
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:  trace.SpanID{8, 7, 6, 5, 4, 3, 2, 1}, TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true,
	})
	linked := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0xaa, 1}, SpanID: trace.SpanID{0xbb, 2}, TraceFlags: trace.FlagsSampled,
	})

	start := time.Unix(1_800_000_000, 123456789)
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), remote)
	ctx, parent := scoped.Start(ctx, "execute rollback", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithTimestamp(start), trace.WithAttributes(everyValue...),
		trace.WithLinks(
			trace.Link{SpanContext: linked}, // over the link limit: the oldest is dropped and counted
			trace.Link{SpanContext: remote},
			trace.Link{SpanContext: linked, Attributes: []attribute.KeyValue{attribute.String("l", "1"), attribute.String("over", "limit")}},
		))
	parent.SetAttributes(attribute.String("a14", "x"), attribute.String("a15", "dropped")) // over the attribute limit
	for i := range 4 {                                                                     // the fourth is over the event limit
		parent.AddEvent("step", trace.WithTimestamp(start.Add(time.Duration(i)*time.Millisecond)),
			trace.WithAttributes(attribute.Int("i", i), attribute.StringSlice("every", []string{"x"})))
	}
	parent.SetStatus(codes.Error, "verification failed")

	kinds := []trace.SpanKind{trace.SpanKindInternal, trace.SpanKindServer, trace.SpanKindClient, trace.SpanKindProducer, trace.SpanKindUnspecified}
	for i, k := range kinds {
		_, child := plain.Start(ctx, "child", trace.WithSpanKind(k), trace.WithTimestamp(start.Add(time.Second)))
		if i == 0 {
			child.SetStatus(codes.Ok, "ignored for ok")
		}
		child.End(trace.WithTimestamp(start.Add(2 * time.Second)))
	}
	parent.End(trace.WithTimestamp(start.Add(3 * time.Second)))

	_, root := plain.Start(context.Background(), "new root") // no parent, not remote
	root.End()
	spans := rec.Ended()
	require.Len(t, spans, 7)
	return spans
}

// entry is one span with everything it was sent under, for comparing independent of grouping.
type entry struct {
	ResourceSchema string
	Resource       *resourcepb.Resource
	ScopeSchema    string
	Scope          *commonpb.InstrumentationScope
	Span           *tracepb.Span
}

func flatten(rss []*tracepb.ResourceSpans) map[string]entry {
	out := map[string]entry{}
	for _, rs := range rss {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				out[hex.EncodeToString(s.GetSpanId())] = entry{rs.GetSchemaUrl(), rs.GetResource(), ss.GetSchemaUrl(), ss.GetScope(), s}
			}
		}
	}
	return out
}

// The conversion must produce what the SDK's own OTLP exporter sends for the same spans.
func TestResourceSpansMatchesOTLPExporter(t *testing.T) {
	spans := recordSpans(t)
	recv := otlpreceiver.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(recv.GRPCAddr()), otlptracegrpc.WithInsecure())
	require.NoError(t, err)
	defer func() { _ = exp.Shutdown(context.Background()) }()
	require.NoError(t, exp.ExportSpans(ctx, spans))
	require.Len(t, recv.Requests(), 1)

	want := flatten(recv.Requests()[0].Request.GetResourceSpans())
	got := flatten(ResourceSpans(spans))
	require.Len(t, want, len(spans))
	require.Len(t, got, len(want))
	for id, w := range want {
		// The SDK's exporter leaves Link.trace_state out although OTLP defines it; ours keeps it.
		if g, ok := got[id]; ok {
			g.Span = proto.Clone(g.Span).(*tracepb.Span)
			for _, l := range g.Span.GetLinks() {
				l.TraceState = ""
			}
			got[id] = g
		}
		g, ok := got[id]
		require.True(t, ok, "span %s missing from the conversion", id)
		assert.Equal(t, w.ResourceSchema, g.ResourceSchema, "resource schema of %s", w.Span.GetName())
		assert.Equal(t, w.ScopeSchema, g.ScopeSchema, "scope schema of %s", w.Span.GetName())
		assertProtoEqual(t, w.Resource, g.Resource)
		assertProtoEqual(t, w.Scope, g.Scope)
		assertProtoEqual(t, w.Span, g.Span)
	}

	// The fields this test means to cover are really present.
	var parent *tracepb.Span
	for _, e := range flatten(ResourceSpans(spans)) {
		if e.Span.GetName() == "execute rollback" {
			parent = e.Span
		}
	}
	require.NotNil(t, parent)
	assert.Len(t, parent.GetAttributes(), 13)
	assert.EqualValues(t, 1, parent.GetDroppedAttributesCount())
	assert.EqualValues(t, 1, parent.GetDroppedEventsCount())
	assert.EqualValues(t, 1, parent.GetDroppedLinksCount())
	require.Len(t, parent.GetLinks(), 2)
	assert.Equal(t, "vendor=abc,other=1", parent.GetLinks()[0].GetTraceState())
	assert.NotZero(t, parent.GetLinks()[0].GetFlags()&uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK))
	assert.EqualValues(t, 1, parent.GetLinks()[1].GetDroppedAttributesCount())
	assert.Equal(t, "vendor=abc,other=1", parent.GetTraceState())
	assert.Equal(t, tracepb.Status_STATUS_CODE_ERROR, parent.GetStatus().GetCode())
	assert.NotZero(t, parent.GetFlags()&uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK))
}

func TestResourceSpansGroupsByResourceAndScope(t *testing.T) {
	spans := recordSpans(t)
	rss := ResourceSpans(spans)
	require.Len(t, rss, 1)
	require.Len(t, rss[0].GetScopeSpans(), 2)
	// Children end first, so scope.b is seen first.
	assert.Equal(t, "scope.b", rss[0].GetScopeSpans()[0].GetScope().GetName())
	assert.Len(t, rss[0].GetScopeSpans()[0].GetSpans(), 6)
	assert.Equal(t, "scope.a", rss[0].GetScopeSpans()[1].GetScope().GetName())
	assert.Equal(t, "1.2.3", rss[0].GetScopeSpans()[1].GetScope().GetVersion())
	assert.Len(t, rss[0].GetScopeSpans()[1].GetSpans(), 1)
	assert.Nil(t, ResourceSpans(nil))
}

func TestAnyValueEveryType(t *testing.T) {
	got := keyValues(everyValue)
	require.Len(t, got, len(everyValue))
	byKey := map[string]*commonpb.AnyValue{}
	for _, kv := range got {
		byKey[kv.GetKey()] = kv.GetValue()
	}
	assert.Nil(t, byKey["empty"].GetValue())
	assert.True(t, byKey["bool"].GetBoolValue())
	assert.EqualValues(t, -42, byKey["int64"].GetIntValue())
	assert.InDelta(t, 3.25, byKey["float64"].GetDoubleValue(), 0)
	assert.Equal(t, "crashloop", byKey["string"].GetStringValue())
	assert.Len(t, byKey["bools"].GetArrayValue().GetValues(), 2)
	assert.EqualValues(t, -2, byKey["int64s"].GetArrayValue().GetValues()[1].GetIntValue())
	assert.InDelta(t, -1.5, byKey["float64s"].GetArrayValue().GetValues()[1].GetDoubleValue(), 0)
	assert.Equal(t, "b", byKey["strings"].GetArrayValue().GetValues()[1].GetStringValue())
	assert.Equal(t, []byte{0, 1, 0xfe}, byKey["bytes"].GetBytesValue())
	nested := byKey["slice"].GetArrayValue().GetValues()
	require.Len(t, nested, 3)
	assert.False(t, nested[2].GetArrayValue().GetValues()[0].GetBoolValue())
	inner := byKey["map"].GetKvlistValue().GetValues()
	require.Len(t, inner, 2)
	assert.Equal(t, "inner", inner[0].GetKey())
	assert.InDelta(t, 1.0, inner[0].GetValue().GetKvlistValue().GetValues()[0].GetValue().GetDoubleValue(), 0)
}

var errNoStream = errors.New("no stream")

// unmarshal decodes a relayed batch the way the hub does.
func unmarshal(t *testing.T, data []byte) []*tracepb.Span {
	t.Helper()
	var out []*tracepb.Span
	req := &coltracepb.ExportTraceServiceRequest{}
	require.NoError(t, proto.Unmarshal(data, req))
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			out = append(out, ss.GetSpans()...)
		}
	}
	return out
}

func assertProtoEqual(t *testing.T, want, got proto.Message) {
	t.Helper()
	assert.True(t, proto.Equal(want, got), "want\n%s\ngot\n%s", prototext.Format(want), prototext.Format(got))
}
