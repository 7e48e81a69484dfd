package otlpreceiver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	hubtel "github.com/kubedevaiops/kubedevaiops/hub/telemetry"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	spoketel "github.com/kubedevaiops/kubedevaiops/spoke/telemetry"
	"github.com/kubedevaiops/kubedevaiops/test/otlpreceiver"
)

// testCA makes a CA and a loopback server certificate it signed; it returns the CA as a PEM
// file and the server's TLS configuration.
func testCA(t *testing.T) (caFile string, server *tls.Config) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "otlp test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "otlp receiver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)

	caFile = filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))
	return caFile, &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

// overTheWire passes a message through its protobuf encoding, as the stream does.
func overTheWire[M proto.Message](t *testing.T, m M) M {
	t.Helper()
	data, err := proto.Marshal(m)
	require.NoError(t, err)
	out := m.ProtoReflect().New().Interface().(M)
	require.NoError(t, proto.Unmarshal(data, out))
	return out
}

// One incident is one trace: a hub span, a directive carrying its context, spoke spans under
// it relayed over the stream, all exported to a real OTLP receiver and kept in the hub's store.
func TestOneTraceAcrossHubAndSpoke(t *testing.T) {
	caFile, serverTLS := testCA(t)
	for _, tc := range []struct {
		name      string
		protocol  hubtel.Protocol
		tls       bool
		transport otlpreceiver.Transport
	}{
		{"grpc", hubtel.ProtocolGRPC, false, otlpreceiver.GRPC},
		{"http/protobuf", hubtel.ProtocolHTTPProtobuf, false, otlpreceiver.HTTP},
		{"grpc with TLS", hubtel.ProtocolGRPC, true, otlpreceiver.GRPC},
		{"http/protobuf with TLS", hubtel.ProtocolHTTPProtobuf, true, otlpreceiver.HTTP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			opts := otlpreceiver.Options{}
			if tc.tls {
				opts.TLS = serverTLS
			}
			recv := otlpreceiver.StartWith(t, opts)
			cfg := hubtel.Config{MemberID: "hub-1", Protocol: tc.protocol, Headers: map[string]string{"authorization": "Bearer test-token"}}
			switch {
			case tc.protocol == hubtel.ProtocolGRPC:
				cfg.Endpoint = recv.GRPCAddr()
			default:
				cfg.Endpoint = recv.HTTPURL()
			}
			if tc.tls {
				cfg.CAFile = caFile
			} else {
				cfg.Insecure = true
			}
			hub, err := hubtel.Setup(ctx, cfg)
			require.NoError(t, err)
			t.Cleanup(func() { _ = hub.Shutdown(context.Background()) })

			// Hub: the plan, and the directive that carries the trace context to the spoke.
			pctx, plan := hub.Tracer().Start(ctx, "plan", trace.WithAttributes(hubtel.PlanKey.String("plan-1")))
			dctx, directive := hub.Tracer().Start(pctx, "directive")
			sent := overTheWire(t, &fleetv1.DirectivePayload{ActionId: "a1", PlanId: "plan-1", TraceContext: hubtel.TraceContextFrom(dctx)})

			// Spoke: spans under the directive, relayed over the "stream" into hub.Relay.
			agent, err := spoketel.New(spoketel.Config{ClusterName: "prod-1", Interval: time.Hour, Sink: func(rs *fleetv1.RelayedSpans) error {
				msg := overTheWire(t, &fleetv1.SpokeMessage{Body: &fleetv1.SpokeMessage_RelayedSpans{RelayedSpans: rs}})
				return hub.Relay(ctx, "prod-1", msg.GetRelayedSpans())
			}})
			require.NoError(t, err)
			t.Cleanup(func() { _ = agent.Shutdown(context.Background()) })
			sctx, execute := spoketel.StartFromDirective(context.Background(), agent.Tracer(), sent.GetTraceContext(), "execute rollback",
				trace.WithAttributes(hubtel.PlanKey.String(sent.GetPlanId())))
			_, verify := agent.Tracer().Start(sctx, "verify")
			verify.End()
			execute.End()
			directive.End()
			plan.End()
			require.NoError(t, agent.ForceFlush(ctx))
			require.NoError(t, hub.ForceFlush(ctx))

			traceID := plan.SpanContext().TraceID().String()
			got, err := recv.WaitForSpans(ctx, traceID, 4)
			require.NoError(t, err)
			assert.Equal(t, []string{"directive", "execute rollback", "plan", "verify"}, otlpreceiver.Names(got))
			assert.Equal(t, []string{"kubedevaiops-agent", "kubedevaiops-hub"}, otlpreceiver.Services(got))
			for _, s := range got {
				assert.Equal(t, tc.transport, s.Transport)
			}
			for _, r := range recv.Requests() {
				assert.Equal(t, "Bearer test-token", r.Headers["authorization"])
			}
			exec, err := recv.Find(traceID, "execute rollback")
			require.NoError(t, err)
			assert.Equal(t, directive.SpanContext().SpanID().String(), trace.SpanID(exec.Span.GetParentSpanId()).String())
			assert.Equal(t, "prod-1", otlpreceiver.ResourceAttr(exec.Resource, "kubedevaiops.cluster"))
			hubSpan, err := recv.Find(traceID, "plan")
			require.NoError(t, err)
			assert.Equal(t, "hub-1", otlpreceiver.ResourceAttr(hubSpan.Resource, "kubedevaiops.member"))

			// The member's recent store holds the same trace, found by its plan.
			assert.Equal(t, []string{traceID}, hub.Store().FindTraces(hubtel.PlanKey, "plan-1"))
			roots := hubtel.Tree(hub.Store().Trace(traceID))
			require.Len(t, roots, 1)
			assert.Equal(t, "plan", roots[0].Span.Name)
			require.Len(t, roots[0].Children, 1)
			dir := roots[0].Children[0]
			assert.Equal(t, "directive", dir.Span.Name)
			require.Len(t, dir.Children, 1)
			assert.Equal(t, "execute rollback", dir.Children[0].Span.Name)
			assert.Equal(t, "prod-1", dir.Children[0].Span.Cluster)
			assert.Equal(t, "kubedevaiops-agent", dir.Children[0].Span.Service)
			require.Len(t, dir.Children[0].Children, 1)
			assert.Equal(t, "verify", dir.Children[0].Children[0].Span.Name)
			assert.Zero(t, hub.Stats().ExportFailures)
		})
	}
}

func TestSetupRefusesBadExportSettings(t *testing.T) {
	caFile, _ := testCA(t)
	for name, tc := range map[string]struct {
		cfg  hubtel.Config
		want string
	}{
		"unknown protocol":   {hubtel.Config{Endpoint: "127.0.0.1:4317", Protocol: "thrift", Insecure: true}, `protocol "thrift"`},
		"bad URL":            {hubtel.Config{Endpoint: "ftp://collector:21", Insecure: true}, "want host:port or an http"},
		"https and insecure": {hubtel.Config{Endpoint: "https://collector:4318/v1/traces", Protocol: hubtel.ProtocolHTTPProtobuf, Insecure: true}, "drop one"},
		"CA for clear text":  {hubtel.Config{Endpoint: "127.0.0.1:4317", Insecure: true, CAFile: caFile}, "clear-text"},
		"missing CA file":    {hubtel.Config{Endpoint: "127.0.0.1:4317", CAFile: "/nonexistent/ca.pem"}, "CA file"},
		"CA file not PEM":    {hubtel.Config{Endpoint: "127.0.0.1:4317", CAFile: writeFile(t, "not a certificate")}, "no PEM certificate"},
		"cert without key":   {hubtel.Config{Endpoint: "127.0.0.1:4317", ClientCertFile: caFile}, "both the certificate and the key"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := hubtel.Setup(context.Background(), tc.cfg)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// Without an endpoint nothing leaves the hub, and the store still has the trace.
func TestHubWithoutEndpointKeepsTracesLocally(t *testing.T) {
	hub, err := hubtel.Setup(context.Background(), hubtel.Config{MemberID: "hub-2"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = hub.Shutdown(context.Background()) })
	assert.False(t, hub.Exporting())
	_, s := hub.Tracer().Start(context.Background(), "plan", trace.WithAttributes(hubtel.PlanKey.String("p9")))
	s.End()
	require.NoError(t, hub.ForceFlush(context.Background()))
	assert.Len(t, hub.Store().FindTraces(hubtel.PlanKey, "p9"), 1)
}

// A collector that is down costs the relay nothing but a counted export failure.
func TestRelayWithCollectorDownCountsTheFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now

	hub, err := hubtel.Setup(context.Background(), hubtel.Config{MemberID: "hub-1", Endpoint: addr, Insecure: true, Timeout: 200 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = hub.Shutdown(context.Background()) })
	agent, err := spoketel.New(spoketel.Config{ClusterName: "c1", Interval: time.Hour, Sink: func(rs *fleetv1.RelayedSpans) error {
		return hub.Relay(context.Background(), "c1", rs)
	}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = agent.Shutdown(context.Background()) })
	_, s := agent.Tracer().Start(context.Background(), "execute")
	s.End()
	require.NoError(t, agent.ForceFlush(context.Background()), "relaying does not wait for the collector")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, hub.ForceFlush(ctx))
	assert.EqualValues(t, 1, hub.Stats().ExportFailures)
	assert.EqualValues(t, 1, hub.Stats().RelayedSpans)
	assert.Len(t, hub.Store().Trace(s.SpanContext().TraceID().String()), 1)
}
