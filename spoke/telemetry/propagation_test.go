package telemetry

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

func resourceOf(t *testing.T, rs *fleetv1.RelayedSpans) *resourcepb.Resource {
	t.Helper()
	req := &coltracepb.ExportTraceServiceRequest{}
	require.NoError(t, proto.Unmarshal(rs.GetOtlpExportTraceServiceRequest(), req))
	require.NotEmpty(t, req.GetResourceSpans())
	return req.GetResourceSpans()[0].GetResource()
}

func TestStartFromDirective(t *testing.T) {
	sink := newStreamSink(true)
	p, err := New(Config{ClusterName: "c1", Sink: sink.send, Interval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })

	tc := &fleetv1.TraceContext{
		Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		Tracestate:  "kubedevaiops=hub1",
	}
	ctx, span := StartFromDirective(context.Background(), p.Tracer(), tc, "execute")
	sc := span.SpanContext()
	ro := span.(interface{ Parent() trace.SpanContext })
	assert.Equal(t, "0af7651916cd43dd8448eb211c80319c", sc.TraceID().String())
	assert.Equal(t, "b7ad6b7169203331", ro.Parent().SpanID().String())
	assert.True(t, ro.Parent().IsRemote())
	assert.True(t, sc.IsSampled())

	// Injected back, the context names this span and keeps the tracestate.
	back := TraceContextFrom(ctx)
	require.NotNil(t, back)
	assert.Equal(t, "00-0af7651916cd43dd8448eb211c80319c-"+sc.SpanID().String()+"-01", back.GetTraceparent())
	assert.Equal(t, "kubedevaiops=hub1", back.GetTracestate())
	span.End()
}

func TestStartFromDirectiveWithoutUsableContextStartsANewTrace(t *testing.T) {
	sink := newStreamSink(true)
	p, err := New(Config{ClusterName: "c1", Sink: sink.send, Interval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })

	for name, tc := range map[string]*fleetv1.TraceContext{
		"nil":       nil,
		"empty":     {},
		"malformed": {Traceparent: "00-not-a-trace-01"},
		"zero ids":  {Traceparent: "00-00000000000000000000000000000000-0000000000000000-01"},
	} {
		t.Run(name, func(t *testing.T) {
			_, span := StartFromDirective(context.Background(), p.Tracer(), tc, "execute")
			defer span.End()
			assert.True(t, span.SpanContext().IsValid())
			assert.False(t, span.(interface{ Parent() trace.SpanContext }).Parent().IsValid())
		})
	}
	assert.Nil(t, TraceContextFrom(context.Background()))
}
