// Package telemetry is the hub's tracing: a TracerProvider exporting over OTLP (gRPC or HTTP),
// the relay of the spans spokes send on their streams (checked, tagged with the authenticated
// cluster, exported through the same OTLP client), and a bounded per-member store of recent
// traces that `kubectl aiops trace show` reads. It also holds the GenAI span conventions and
// the trace context the hub puts into directives.
package telemetry
