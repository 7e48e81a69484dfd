package incident

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Span attribute keys the hub sets on incident spans; trace show finds a plan's spans by them.
const (
	attrPlan     = attribute.Key("kubedevaiops.plan")
	attrIncident = attribute.Key("kubedevaiops.incident")
	attrCluster  = attribute.Key("kubedevaiops.cluster")
	attrAction   = attribute.Key("kubedevaiops.action")
)

var propagator = propagation.TraceContext{}

// extract returns a context carrying the remote span context of a W3C traceparent.
func extract(traceparent string) context.Context {
	if traceparent == "" {
		return context.Background()
	}
	return propagator.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent})
}

// traceparentOf returns the W3C traceparent of the span in ctx.
func traceparentOf(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c["traceparent"]
}

// traceContextOf returns the directive trace context of the span in ctx.
func traceContextOf(ctx context.Context) *fleetv1.TraceContext {
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return &fleetv1.TraceContext{Traceparent: c["traceparent"], Tracestate: c["tracestate"]}
}

// childSpan starts a span under traceparent (a new trace when it is empty or invalid).
func (h *Hub) childSpan(traceparent, name string, start time.Time, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	opts := []trace.SpanStartOption{trace.WithAttributes(attrs...)}
	if !start.IsZero() {
		opts = append(opts, trace.WithTimestamp(start))
	}
	return h.tracer.Start(extract(traceparent), name, opts...)
}
