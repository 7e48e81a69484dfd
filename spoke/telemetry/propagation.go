package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// traceCarrier lets the W3C propagator read and write a TraceContext message.
type traceCarrier struct{ tc *fleetv1.TraceContext }

func (c traceCarrier) Get(key string) string {
	switch key {
	case "traceparent":
		return c.tc.GetTraceparent()
	case "tracestate":
		return c.tc.GetTracestate()
	}
	return ""
}

func (c traceCarrier) Set(key, value string) {
	switch key {
	case "traceparent":
		c.tc.Traceparent = value
	case "tracestate":
		c.tc.Tracestate = value
	}
}

func (c traceCarrier) Keys() []string { return []string{"traceparent", "tracestate"} }

// ContextWithTraceContext returns ctx carrying tc's span as the remote parent of spans started
// from it. A missing or malformed tc leaves ctx as it is (the spans then start a new trace).
func ContextWithTraceContext(ctx context.Context, tc *fleetv1.TraceContext) context.Context {
	if tc == nil {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, traceCarrier{tc: tc})
}

// StartFromDirective starts a span that is a child of the directive's trace context, e.g.
// StartFromDirective(ctx, p.Tracer(), payload.GetTraceContext(), "execute "+payload.ActionType).
func StartFromDirective(ctx context.Context, tracer trace.Tracer, tc *fleetv1.TraceContext, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return tracer.Start(ContextWithTraceContext(ctx, tc), name, opts...)
}

// TraceContextFrom is the TraceContext of ctx's current span, for a message the hub should
// continue the trace from; nil when ctx has no valid span.
func TraceContextFrom(ctx context.Context) *fleetv1.TraceContext {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	tc := &fleetv1.TraceContext{}
	propagation.TraceContext{}.Inject(ctx, traceCarrier{tc: tc})
	return tc
}
