package otlpreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// Transport names how a request reached the receiver.
type Transport string

const (
	// GRPC is OTLP/gRPC.
	GRPC Transport = "grpc"
	// HTTP is OTLP/HTTP with protobuf bodies.
	HTTP Transport = "http"
)

// Span is one received span with the resource and scope it came under.
type Span struct {
	Span      *tracepb.Span
	Resource  *resourcepb.Resource
	Scope     *commonpb.InstrumentationScope
	Transport Transport
}

// TraceID is the span's trace id in lowercase hex.
func (s Span) TraceID() string { return hex.EncodeToString(s.Span.GetTraceId()) }

// Service is the span's resource service.name.
func (s Span) Service() string { return ResourceAttr(s.Resource, "service.name") }

// Request is one received export request.
type Request struct {
	Request   *coltracepb.ExportTraceServiceRequest
	Transport Transport
	// Headers are the request's gRPC metadata or HTTP headers, keys in lower case.
	Headers map[string]string
}

// Receiver collects what OTLP exporters send it over gRPC and HTTP.
type Receiver struct {
	coltracepb.UnimplementedTraceServiceServer

	grpcAddr string
	httpURL  string

	mu       sync.Mutex
	requests []Request
	changed  chan struct{} // closed and replaced on every request
}

// Options configure a Receiver.
type Options struct {
	// TLS, when set, makes both listeners serve TLS with this configuration.
	TLS *tls.Config
}

// Start starts a receiver on loopback and stops it when the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith starts a receiver with options and stops it when the test ends.
func StartWith(t testing.TB, opts Options) *Receiver {
	t.Helper()
	r := &Receiver{changed: make(chan struct{})}

	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("otlp receiver: listen for gRPC: %v", err)
	}
	var gopts []grpc.ServerOption
	if opts.TLS != nil {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(opts.TLS)))
	}
	gs := grpc.NewServer(gopts...)
	coltracepb.RegisterTraceServiceServer(gs, r)
	go func() { _ = gs.Serve(gl) }()
	r.grpcAddr = gl.Addr().String()

	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gs.Stop()
		t.Fatalf("otlp receiver: listen for HTTP: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/traces", r.serveHTTP)
	hs := &http.Server{Handler: mux, TLSConfig: opts.TLS}
	scheme := "http"
	if opts.TLS != nil {
		scheme = "https"
		go func() { _ = hs.ServeTLS(hl, "", "") }()
	} else {
		go func() { _ = hs.Serve(hl) }()
	}
	r.httpURL = scheme + "://" + hl.Addr().String() + "/v1/traces"

	t.Cleanup(func() {
		gs.Stop()
		_ = hs.Close()
	})
	return r
}

// GRPCAddr is the host:port of the OTLP/gRPC listener.
func (r *Receiver) GRPCAddr() string { return r.grpcAddr }

// HTTPURL is the full URL of the OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:43123/v1/traces.
func (r *Receiver) HTTPURL() string { return r.httpURL }

// Export implements the OTLP/gRPC TraceService.
func (r *Receiver) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	headers := map[string]string{}
	md, _ := metadata.FromIncomingContext(ctx)
	for k, v := range md {
		headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	r.add(proto.Clone(req).(*coltracepb.ExportTraceServiceRequest), GRPC, headers)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (r *Receiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "OTLP traces are POSTed", http.StatusMethodNotAllowed)
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, fmt.Sprintf("content type %q: this receiver takes application/x-protobuf", ct), http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, "gzip body: "+err.Error(), http.StatusBadRequest)
			return
		}
		defer zr.Close()
		body = zr
	}
	data, err := io.ReadAll(io.LimitReader(body, 64<<20))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	msg := &coltracepb.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(data, msg); err != nil {
		http.Error(w, "decode ExportTraceServiceRequest: "+err.Error(), http.StatusBadRequest)
		return
	}
	headers := map[string]string{}
	for k, v := range req.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	r.add(msg, HTTP, headers)
	resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = io.Copy(w, bytes.NewReader(resp))
}

func (r *Receiver) add(req *coltracepb.ExportTraceServiceRequest, tr Transport, headers map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, Request{Request: req, Transport: tr, Headers: headers})
	close(r.changed)
	r.changed = make(chan struct{})
}

// Requests is every request received so far, in arrival order.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// Spans is every span received so far, in arrival order.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Span
	for _, req := range r.requests {
		for _, rs := range req.Request.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					out = append(out, Span{Span: s, Resource: rs.GetResource(), Scope: ss.GetScope(), Transport: req.Transport})
				}
			}
		}
	}
	return out
}

// TraceSpans is the spans received so far of one trace (lowercase hex id).
func (r *Receiver) TraceSpans(traceID string) []Span {
	var out []Span
	for _, s := range r.Spans() {
		if s.TraceID() == traceID {
			out = append(out, s)
		}
	}
	return out
}

// WaitForSpans waits until at least n spans of the trace have arrived and returns them; it
// fails with what did arrive when ctx ends first.
func (r *Receiver) WaitForSpans(ctx context.Context, traceID string, n int) ([]Span, error) {
	for {
		r.mu.Lock()
		changed := r.changed
		r.mu.Unlock()
		got := r.TraceSpans(traceID)
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return got, fmt.Errorf("trace %s: %d of %d spans arrived (names %v): %w", traceID, len(got), n, Names(got), ctx.Err())
		}
	}
}

// Names is the sorted span names of spans.
func Names(spans []Span) []string {
	out := make([]string, 0, len(spans))
	for _, s := range spans {
		out = append(out, s.Span.GetName())
	}
	sort.Strings(out)
	return out
}

// Services is the sorted distinct service names of spans.
func Services(spans []Span) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range spans {
		if name := s.Service(); !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// ResourceAttr is the string value of a resource attribute, "" when absent.
func ResourceAttr(res *resourcepb.Resource, key string) string {
	for _, kv := range res.GetAttributes() {
		if kv.GetKey() == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

// ErrNoSpan is returned by Find when no received span has the name.
var ErrNoSpan = errors.New("no such span")

// Find is the first received span of the trace with the name.
func (r *Receiver) Find(traceID, name string) (Span, error) {
	for _, s := range r.TraceSpans(traceID) {
		if s.Span.GetName() == name {
			return s, nil
		}
	}
	return Span{}, fmt.Errorf("trace %s span %q: %w", traceID, name, ErrNoSpan)
}
