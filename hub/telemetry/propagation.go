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

// TraceContextFrom is the TraceContext of ctx's current span, to put in a directive
// (DirectivePayload.trace_context) so the spoke's spans join the trace; nil without a span.
func TraceContextFrom(ctx context.Context) *fleetv1.TraceContext {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	tc := &fleetv1.TraceContext{}
	propagation.TraceContext{}.Inject(ctx, traceCarrier{tc: tc})
	return tc
}

// ContextWithTraceContext returns ctx carrying tc's span as the remote parent, to continue a
// trace that arrived in a message (e.g. a finding). A missing or malformed tc leaves ctx as is.
func ContextWithTraceContext(ctx context.Context, tc *fleetv1.TraceContext) context.Context {
	if tc == nil {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, traceCarrier{tc: tc})
}

// Traceparent is the W3C traceparent of ctx's span, to store with a record whose later steps
// join the same trace; "" without a span.
func Traceparent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c["traceparent"]
}

// WithTraceparent returns ctx carrying a stored traceparent's span as the remote parent; an
// empty or malformed one leaves ctx as is.
func WithTraceparent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// TraceIDOf is the trace id of a stored traceparent, for logs and audit records; "" when it
// holds none.
func TraceIDOf(traceparent string) string {
	sc := trace.SpanContextFromContext(WithTraceparent(context.Background(), traceparent))
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}
