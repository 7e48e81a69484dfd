package telemetry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

const (
	// ServiceName is the service.name of every agent span.
	ServiceName = "kubedevaiops-agent"
	// ClusterKey is the resource attribute naming the cluster; the hub overwrites it with the
	// stream's authenticated cluster name.
	ClusterKey = attribute.Key("kubedevaiops.cluster")
	// TracerName names the agent's instrumentation scope.
	TracerName = "github.com/kubedevaiops/kubedevaiops/spoke"
)

// Config configures the agent's tracing. Zero values take the defaults shown.
type Config struct {
	// ClusterName is the cluster this agent speaks for (required).
	ClusterName string
	// ServiceVersion is the agent's version, if known.
	ServiceVersion string
	// Sink receives the batches (required).
	Sink Sink
	// MaxBuffered bounds the spans waiting for the sink; more are dropped and counted (4096).
	MaxBuffered int
	// BatchSize is the most spans in one RelayedSpans (256); a full batch is sent at once.
	BatchSize int
	// MaxBatchBytes bounds one encoded batch, well below the stream's message limit (1 MiB).
	MaxBatchBytes int
	// Interval is how often a partial batch is sent and a refused one retried (2s).
	Interval time.Duration
}

// Provider is the agent's TracerProvider; its spans are relayed to the hub through the sink.
type Provider struct {
	*sdktrace.TracerProvider
	relay *relay
}

// New starts the agent's tracing. Call Shutdown to relay what is left and stop.
func New(cfg Config) (*Provider, error) {
	if cfg.ClusterName == "" {
		return nil, errors.New("agent tracing: cluster name is empty")
	}
	if cfg.Sink == nil {
		return nil, errors.New("agent tracing: no sink for the relayed spans")
	}
	if cfg.MaxBuffered <= 0 {
		cfg.MaxBuffered = 4096
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 256
	}
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = 1 << 20
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	attrs := []attribute.KeyValue{
		semconv.ServiceName(ServiceName),
		semconv.K8SClusterName(cfg.ClusterName),
		ClusterKey.String(cfg.ClusterName),
	}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(cfg.ServiceVersion))
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL, attrs...))
	if err != nil {
		return nil, fmt.Errorf("agent tracing resource: %w", err)
	}
	r := newRelay(cfg.Sink, cfg.MaxBuffered, cfg.BatchSize, cfg.MaxBatchBytes, cfg.Interval)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		sdktrace.WithSpanProcessor(r),
	)
	return &Provider{TracerProvider: tp, relay: r}, nil
}

// Tracer is the agent's tracer.
func (p *Provider) Tracer() trace.Tracer {
	return p.TracerProvider.Tracer(TracerName)
}

// Buffered is how many finished spans wait for the sink.
func (p *Provider) Buffered() int {
	n, _ := p.relay.stats()
	return n
}

// Dropped is how many spans were dropped since New (buffer full, or too large to relay).
func (p *Provider) Dropped() uint64 {
	_, d := p.relay.stats()
	return d
}

// Shutdown ends span recording and relays what is buffered; what the sink refuses is lost.
func (p *Provider) Shutdown(ctx context.Context) error {
	return p.TracerProvider.Shutdown(ctx)
}
