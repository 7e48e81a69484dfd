// Package otlpreceiver is a real OTLP trace receiver for tests: an OTLP/gRPC TraceService and an
// OTLP/HTTP /v1/traces handler (protobuf) on loopback that keep every span they receive, with
// helpers to wait for the spans of a trace and to list their names and services.
package otlpreceiver
