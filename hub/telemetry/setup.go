package telemetry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc/credentials"
)

const (
	// ServiceName is the service.name of every hub span.
	ServiceName = "kubedevaiops-hub"
	// TracerName names the hub's instrumentation scope.
	TracerName = "github.com/kubedevaiops/kubedevaiops/hub"
	// ClusterKey is the resource attribute naming the cluster a relayed span came from; the hub
	// sets it from the stream's authenticated cluster name.
	ClusterKey = attribute.Key("kubedevaiops.cluster")
	// MemberKey is the resource attribute naming the hub member that recorded a span.
	MemberKey = attribute.Key("kubedevaiops.member")
)

// Protocol is an OTLP transport.
type Protocol string

const (
	// ProtocolGRPC is OTLP/gRPC (the default).
	ProtocolGRPC Protocol = "grpc"
	// ProtocolHTTPProtobuf is OTLP/HTTP with protobuf bodies.
	ProtocolHTTPProtobuf Protocol = "http/protobuf"
)

// Config configures the hub's tracing.
type Config struct {
	// MemberID is this hub member's id (service.instance.id and kubedevaiops.member).
	MemberID string
	// ServiceVersion is the hub's version, if known.
	ServiceVersion string
	// Endpoint is where spans are exported: host:port, or a URL (http:// or https://; for
	// http/protobuf the URL's path is used as is, host:port gets /v1/traces). Empty: no export,
	// spans are still kept in the recent store.
	Endpoint string
	// Protocol is grpc (default) or http/protobuf.
	Protocol Protocol
	// Insecure sends in clear text; otherwise TLS, verified with CAFile or the system roots.
	Insecure bool
	// CAFile is a PEM bundle of the CAs that sign the collector's certificate.
	CAFile string
	// ClientCertFile and ClientKeyFile, when both set, authenticate the hub to the collector.
	ClientCertFile, ClientKeyFile string
	// Headers are sent with every export (e.g. an authorization token); never logged.
	Headers map[string]string
	// Timeout bounds one export attempt (10s).
	Timeout time.Duration
	// Store bounds the recent-trace store.
	Store StoreConfig
	// RelayQueue is how many relayed requests may wait for export; more are dropped and
	// counted (256).
	RelayQueue int
	// MaxRelayBytes is the largest relayed request accepted (4 MiB).
	MaxRelayBytes int
	// Logger receives export failures (slog.Default()).
	Logger *slog.Logger
}

// Telemetry is the hub's tracing: its TracerProvider, the relay of spoke spans and the recent
// store. Safe for concurrent use.
type Telemetry struct {
	provider      *sdktrace.TracerProvider
	client        otlptrace.Client // nil when not exporting
	store         *Store
	member        string
	log           *slog.Logger
	timeout       time.Duration
	maxRelayBytes int

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	queue  chan relayJob
	done   chan struct{}

	stats relayStats
}

type relayJob struct {
	spans   []*tracepb.ResourceSpans
	n       int
	flushed chan struct{} // set for a flush marker
}

type relayStats struct {
	relayed, refused, foreign, spokeDropped, queueDropped, exportFailures atomic.Uint64
}

// Stats count what the relay did since Setup.
type Stats struct {
	RelayedSpans      uint64 // spoke spans accepted
	RefusedRequests   uint64 // relayed requests refused as malformed
	ForeignSpans      uint64 // spoke spans dropped for claiming another cluster
	SpokeDroppedSpans uint64 // spans the spokes reported they dropped
	QueueDroppedSpans uint64 // accepted spans not exported because the export queue was full
	ExportFailures    uint64 // relayed batches the collector did not take
}

// Setup starts the hub's tracing. Shutdown flushes and stops it.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.RelayQueue <= 0 {
		cfg.RelayQueue = 256
	}
	if cfg.MaxRelayBytes <= 0 {
		cfg.MaxRelayBytes = 4 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	attrs := []attribute.KeyValue{semconv.ServiceName(ServiceName)}
	if cfg.MemberID != "" {
		attrs = append(attrs, semconv.ServiceInstanceID(cfg.MemberID), MemberKey.String(cfg.MemberID))
	}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(cfg.ServiceVersion))
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL, attrs...))
	if err != nil {
		return nil, fmt.Errorf("hub tracing resource: %w", err)
	}
	t := &Telemetry{
		store: NewStore(cfg.Store), member: cfg.MemberID, log: cfg.Logger, timeout: cfg.Timeout,
		maxRelayBytes: cfg.MaxRelayBytes, done: make(chan struct{}),
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		sdktrace.WithSpanProcessor(storeProcessor{store: t.store}),
	}
	if cfg.Endpoint != "" {
		client, err := newClient(cfg)
		if err != nil {
			return nil, err
		}
		exp, err := otlptrace.New(ctx, client) // starts the client, shared with the relay
		if err != nil {
			return nil, fmt.Errorf("start OTLP exporter to %s: %w", cfg.Endpoint, err)
		}
		t.client = client
		opts = append(opts, sdktrace.WithBatcher(exp))
		t.queue = make(chan relayJob, cfg.RelayQueue)
		go t.exportRelayed()
	} else {
		close(t.done)
	}
	t.provider = sdktrace.NewTracerProvider(opts...)
	return t, nil
}

// newClient makes the OTLP client for the configured protocol and transport security.
func newClient(cfg Config) (otlptrace.Client, error) {
	var u *url.URL
	insecure := cfg.Insecure
	if isURL(cfg.Endpoint) {
		var err error
		if u, err = url.Parse(cfg.Endpoint); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("OTLP endpoint %q: want host:port or an http:// or https:// URL", cfg.Endpoint)
		}
		if u.Scheme == "https" && cfg.Insecure {
			return nil, fmt.Errorf("OTLP endpoint %q is https but insecure is set: drop one", cfg.Endpoint)
		}
		insecure = insecure || u.Scheme == "http"
	}
	var tlsCfg *tls.Config
	if !insecure {
		var err error
		if tlsCfg, err = clientTLS(cfg); err != nil {
			return nil, err
		}
	} else if cfg.CAFile != "" || cfg.ClientCertFile != "" {
		return nil, fmt.Errorf("OTLP endpoint %q: a CA or client certificate is set for a clear-text export: use an https endpoint or drop insecure", cfg.Endpoint)
	}
	switch cfg.Protocol {
	case "", ProtocolGRPC:
		opts := []otlptracegrpc.Option{otlptracegrpc.WithTimeout(cfg.Timeout)}
		if u != nil {
			opts = append(opts, otlptracegrpc.WithEndpointURL(cfg.Endpoint))
		} else {
			opts = append(opts, otlptracegrpc.WithEndpoint(cfg.Endpoint))
		}
		if insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		} else {
			opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tlsCfg)))
		}
		if len(cfg.Headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(cfg.Headers))
		}
		return otlptracegrpc.NewClient(opts...), nil
	case ProtocolHTTPProtobuf:
		opts := []otlptracehttp.Option{otlptracehttp.WithTimeout(cfg.Timeout)}
		if u != nil {
			opts = append(opts, otlptracehttp.WithEndpointURL(cfg.Endpoint))
		} else {
			opts = append(opts, otlptracehttp.WithEndpoint(cfg.Endpoint))
		}
		if insecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		} else {
			opts = append(opts, otlptracehttp.WithTLSClientConfig(tlsCfg))
		}
		if len(cfg.Headers) > 0 {
			opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
		}
		return otlptracehttp.NewClient(opts...), nil
	default:
		return nil, fmt.Errorf("OTLP protocol %q: want %q or %q", cfg.Protocol, ProtocolGRPC, ProtocolHTTPProtobuf)
	}
}

func isURL(endpoint string) bool { return strings.Contains(endpoint, "://") }

func clientTLS(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("OTLP CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("OTLP CA file %s: no PEM certificate in it", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if (cfg.ClientCertFile == "") != (cfg.ClientKeyFile == "") {
		return nil, errors.New("OTLP client certificate: give both the certificate and the key file, or neither")
	}
	if cfg.ClientCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ClientCertFile, cfg.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("OTLP client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// TracerProvider is the hub's provider; the lead may also make it the global one.
func (t *Telemetry) TracerProvider() *sdktrace.TracerProvider { return t.provider }

// Tracer is the hub's tracer.
func (t *Telemetry) Tracer() trace.Tracer { return t.provider.Tracer(TracerName) }

// Store is this member's recent-trace store.
func (t *Telemetry) Store() *Store { return t.store }

// Exporting says whether spans leave the hub over OTLP.
func (t *Telemetry) Exporting() bool { return t.client != nil }

// Stats is what the relay did since Setup.
func (t *Telemetry) Stats() Stats {
	return Stats{
		RelayedSpans:      t.stats.relayed.Load(),
		RefusedRequests:   t.stats.refused.Load(),
		ForeignSpans:      t.stats.foreign.Load(),
		SpokeDroppedSpans: t.stats.spokeDropped.Load(),
		QueueDroppedSpans: t.stats.queueDropped.Load(),
		ExportFailures:    t.stats.exportFailures.Load(),
	}
}

// ForceFlush exports the hub's ended spans and the relayed spans waiting in the queue.
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	err := t.provider.ForceFlush(ctx)
	if t.queue == nil {
		return err
	}
	marker := relayJob{flushed: make(chan struct{})}
	t.mu.RLock()
	if t.closed {
		t.mu.RUnlock()
		return err
	}
	select {
	case t.queue <- marker:
	case <-ctx.Done():
		t.mu.RUnlock()
		return errors.Join(err, ctx.Err())
	}
	t.mu.RUnlock()
	select {
	case <-marker.flushed:
		return err
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
}

// Shutdown stops relaying, exports what is queued, then flushes and stops the provider (which
// stops the shared OTLP client).
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.mu.Lock()
	if !t.closed && t.queue != nil {
		close(t.queue)
	}
	t.closed = true
	t.mu.Unlock()
	var qerr error
	select {
	case <-t.done:
	case <-ctx.Done():
		qerr = fmt.Errorf("relayed spans left unexported: %w", ctx.Err())
	}
	return errors.Join(qerr, t.provider.Shutdown(ctx))
}
