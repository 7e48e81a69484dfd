package telemetry

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

var (
	traceA = []byte{0xa1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	spanA  = []byte{1, 1, 1, 1, 1, 1, 1, 1}
	spanB  = []byte{2, 2, 2, 2, 2, 2, 2, 2}
)

func otlpSpan(name string, sid, parent []byte) *tracepb.Span {
	return &tracepb.Span{
		TraceId: traceA, SpanId: sid, ParentSpanId: parent, Name: name, Kind: tracepb.Span_SPAN_KIND_INTERNAL,
		StartTimeUnixNano: 1_800_000_000_000_000_000, EndTimeUnixNano: 1_800_000_001_000_000_000,
		Attributes: []*commonpb.KeyValue{str("kubedevaiops.plan", "plan-1")},
		Status:     &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "verify failed"},
	}
}

func request(res *resourcepb.Resource, spans ...*tracepb.Span) *coltracepb.ExportTraceServiceRequest {
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: res, ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{Name: "agent"}, Spans: spans}},
	}}}
}

func relayed(t *testing.T, req *coltracepb.ExportTraceServiceRequest) *fleetv1.RelayedSpans {
	t.Helper()
	data, err := proto.Marshal(req)
	require.NoError(t, err)
	return &fleetv1.RelayedSpans{OtlpExportTraceServiceRequest: data}
}

func localHub(t *testing.T) *Telemetry {
	t.Helper()
	tel, err := Setup(context.Background(), Config{MemberID: "hub-1", MaxRelayBytes: 64 << 10})
	require.NoError(t, err)
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

func TestRelayRefusesGarbage(t *testing.T) {
	heartbeat, err := proto.Marshal(&fleetv1.SpokeMessage{Body: &fleetv1.SpokeMessage_Heartbeat{Heartbeat: &fleetv1.Heartbeat{}}})
	require.NoError(t, err)
	valid, err := proto.Marshal(request(nil, otlpSpan("ok", spanA, nil)))
	require.NoError(t, err)
	mutate := func(f func(*tracepb.Span)) []byte {
		s := otlpSpan("bad", spanA, nil)
		f(s)
		data, err := proto.Marshal(request(nil, s))
		require.NoError(t, err)
		return data
	}
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"random bytes":          {[]byte("this is not protobuf \xff\xfe\x00\x01"), "not a valid OTLP"},
		"truncated":             {valid[:len(valid)-5], "not a valid OTLP"},
		"another message":       {heartbeat, "no spans"},
		"request without spans": {mustMarshal(t, &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{}}}), "no spans"},
		"short trace id":        {mutate(func(s *tracepb.Span) { s.TraceId = s.TraceId[:8] }), "trace id is 8 bytes"},
		"zero trace id":         {mutate(func(s *tracepb.Span) { s.TraceId = make([]byte, 16) }), "trace id"},
		"missing span id":       {mutate(func(s *tracepb.Span) { s.SpanId = nil }), "span id is 0 bytes"},
		"odd parent id":         {mutate(func(s *tracepb.Span) { s.ParentSpanId = []byte{1, 2, 3} }), "parent span id is 3 bytes"},
		"ends before start":     {mutate(func(s *tracepb.Span) { s.EndTimeUnixNano = 1 }), "ends before it starts"},
		"bad link":              {mutate(func(s *tracepb.Span) { s.Links = []*tracepb.Span_Link{{TraceId: traceA}} }), "link 0"},
		"too large":             {make([]byte, 65<<10), "more than the"},
	} {
		t.Run(name, func(t *testing.T) {
			tel := localHub(t)
			err := tel.Relay(context.Background(), "c1", &fleetv1.RelayedSpans{OtlpExportTraceServiceRequest: tc.data})
			require.ErrorIs(t, err, ErrInvalidSpans)
			assert.ErrorContains(t, err, tc.want)
			assert.ErrorContains(t, err, `cluster "c1"`)
			assert.Equal(t, 0, tel.Store().Len(), "nothing of a refused request is kept")
			assert.EqualValues(t, 1, tel.Stats().RefusedRequests)
		})
	}
	tel := localHub(t)
	require.ErrorIs(t, tel.Relay(context.Background(), "c1", nil), ErrInvalidSpans)
	require.ErrorContains(t, tel.Relay(context.Background(), "", relayed(t, request(nil, otlpSpan("x", spanA, nil)))), "authenticated cluster")
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	data, err := proto.Marshal(m)
	require.NoError(t, err)
	return data
}

func TestRelaySetsTheAuthenticatedCluster(t *testing.T) {
	tel := localHub(t)
	res := &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		str("service.name", "kubedevaiops-agent"),
		str("kubedevaiops.member", "hub-9"), // a spoke cannot speak as a hub member
	}}
	require.NoError(t, tel.Relay(context.Background(), "prod-1", relayed(t, request(res, otlpSpan("execute", spanA, nil)))))

	spans := tel.Store().Trace("a102030405060708090a0b0c0d0e0f10")
	require.Len(t, spans, 1)
	assert.Equal(t, "prod-1", spans[0].Cluster)
	assert.Empty(t, spans[0].Member)
	assert.Equal(t, "kubedevaiops-agent", spans[0].Service)
	assert.Equal(t, "error", spans[0].Status)
	assert.Equal(t, "verify failed", spans[0].StatusMessage)
	assert.Equal(t, time.Second, spans[0].Duration())
	assert.EqualValues(t, 1, tel.Stats().RelayedSpans)

	// A resource already naming the same cluster is kept, the attribute rewritten once.
	own := &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("kubedevaiops.cluster", "prod-1"), str("k8s.cluster.name", "prod-1")}}
	req := request(own, otlpSpan("verify", spanB, spanA))
	require.NoError(t, tel.Relay(context.Background(), "prod-1", relayed(t, req)))
	assert.Len(t, tel.Store().Trace("a102030405060708090a0b0c0d0e0f10"), 2)
}

func TestRelayDropsResourcesOfAnotherCluster(t *testing.T) {
	tel := localHub(t)
	req := request(&resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("kubedevaiops.cluster", "prod-1")}}, otlpSpan("mine", spanA, nil))
	for _, attr := range []*commonpb.KeyValue{str("kubedevaiops.cluster", "other"), str("k8s.cluster.name", "other")} {
		foreign := request(&resourcepb.Resource{Attributes: []*commonpb.KeyValue{attr}}, otlpSpan("theirs", spanB, nil))
		req.ResourceSpans = append(req.ResourceSpans, foreign.ResourceSpans...)
	}
	err := tel.Relay(context.Background(), "prod-1", relayed(t, req))
	require.ErrorIs(t, err, ErrForeignCluster)
	assert.ErrorContains(t, err, "2 spans dropped")

	spans := tel.Store().Trace("a102030405060708090a0b0c0d0e0f10")
	require.Len(t, spans, 1)
	assert.Equal(t, "mine", spans[0].Name)
	assert.Equal(t, Stats{RelayedSpans: 1, ForeignSpans: 2}, tel.Stats())
}

func TestRelayCountsSpokeDrops(t *testing.T) {
	tel := localHub(t)
	require.NoError(t, tel.Relay(context.Background(), "c1", &fleetv1.RelayedSpans{DroppedSpans: 7}))
	rs := relayed(t, request(nil, otlpSpan("x", spanA, nil)))
	rs.DroppedSpans = 3
	require.NoError(t, tel.Relay(context.Background(), "c1", rs))
	assert.EqualValues(t, 10, tel.Stats().SpokeDroppedSpans)
}
