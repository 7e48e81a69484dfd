// Package telemetry records the agent's trace spans and relays them to the hub: spans are
// buffered (bounded, drops counted), encoded as OTLP protobuf and handed in batches to a sink
// that sends them on the agent's stream; the hub exports them centrally. It also joins a
// directive's trace context so the agent's spans belong to the hub's trace.
package telemetry
