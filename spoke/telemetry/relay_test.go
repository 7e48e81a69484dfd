package telemetry

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// streamSink stands for the agent's stream: it refuses batches while "disconnected".
type streamSink struct {
	mu        sync.Mutex
	connected bool
	got       []*fleetv1.RelayedSpans
	sent      chan struct{}
}

func newStreamSink(connected bool) *streamSink {
	return &streamSink{connected: connected, sent: make(chan struct{}, 1000)}
}

func (s *streamSink) send(rs *fleetv1.RelayedSpans) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.connected {
		return errNoStream
	}
	s.got = append(s.got, rs)
	s.sent <- struct{}{}
	return nil
}

func (s *streamSink) setConnected(c bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connected = c
}

func (s *streamSink) batches() []*fleetv1.RelayedSpans {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*fleetv1.RelayedSpans(nil), s.got...)
}

// totals is the spans relayed and the drops reported across every batch.
func (s *streamSink) totals(t *testing.T) (names []string, dropped uint64) {
	for _, b := range s.batches() {
		for _, sp := range unmarshal(t, b.GetOtlpExportTraceServiceRequest()) {
			names = append(names, sp.GetName())
		}
		dropped += b.GetDroppedSpans()
	}
	return names, dropped
}

func endSpans(p *Provider, prefix string, n int, attrs ...attribute.KeyValue) {
	for i := range n {
		_, s := p.Tracer().Start(context.Background(), prefix+string(rune('a'+i)), trace.WithAttributes(attrs...))
		s.End()
	}
}

func TestRelayBufferIsBoundedAndCountsDrops(t *testing.T) {
	sink := newStreamSink(false)
	p, err := New(Config{ClusterName: "c1", Sink: sink.send, MaxBuffered: 5, BatchSize: 2, Interval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })

	endSpans(p, "s", 8)
	assert.Equal(t, 5, p.Buffered())
	assert.EqualValues(t, 3, p.Dropped())
	require.ErrorIs(t, p.ForceFlush(context.Background()), errNoStream)
	assert.Equal(t, 5, p.Buffered(), "a refused batch stays buffered")

	sink.setConnected(true)
	require.NoError(t, p.ForceFlush(context.Background()))
	assert.Equal(t, 0, p.Buffered())
	names, dropped := sink.totals(t)
	assert.Equal(t, []string{"sa", "sb", "sc", "sd", "se"}, names, "the first five, in order")
	assert.EqualValues(t, 3, dropped, "drops are reported once")
	for _, b := range sink.batches() {
		assert.LessOrEqual(t, len(unmarshal(t, b.GetOtlpExportTraceServiceRequest())), 2)
	}

	// Drops while the buffer is empty are still reported on their own.
	sink.setConnected(false)
	endSpans(p, "t", 6)
	require.Error(t, p.ForceFlush(context.Background()))
	sink.setConnected(true)
	require.NoError(t, p.ForceFlush(context.Background()))
	names, dropped = sink.totals(t)
	assert.Len(t, names, 10)
	assert.EqualValues(t, 4, dropped)
	assert.EqualValues(t, 4, p.Dropped())
}

func TestRelaySendsFullBatchesWithoutWaitingForTheInterval(t *testing.T) {
	sink := newStreamSink(true)
	p, err := New(Config{ClusterName: "c1", Sink: sink.send, BatchSize: 3, Interval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })

	endSpans(p, "s", 3)
	select {
	case <-sink.sent:
	case <-time.After(30 * time.Second):
		t.Fatal("a full batch was not relayed")
	}
	names, _ := sink.totals(t)
	assert.Len(t, names, 3)
}

func TestRelaySplitsBatchesByBytesAndDropsOversizedSpans(t *testing.T) {
	sink := newStreamSink(true)
	const limit = 4 << 10
	p, err := New(Config{ClusterName: "c1", Sink: sink.send, BatchSize: 100, MaxBatchBytes: limit, Interval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })

	endSpans(p, "k", 10, attribute.String("payload", strings.Repeat("x", 1000)))
	endSpans(p, "huge", 1, attribute.String("payload", strings.Repeat("y", 2*limit)))
	endSpans(p, "z", 1)
	require.NoError(t, p.ForceFlush(context.Background()))

	require.Greater(t, len(sink.batches()), 1)
	for _, b := range sink.batches() {
		assert.LessOrEqual(t, len(b.GetOtlpExportTraceServiceRequest()), limit)
	}
	names, dropped := sink.totals(t)
	assert.Len(t, names, 11)
	assert.NotContains(t, names, "hugea")
	assert.EqualValues(t, 1, dropped)
	assert.EqualValues(t, 1, p.Dropped())
}

func TestShutdownRelaysWhatIsBuffered(t *testing.T) {
	sink := newStreamSink(true)
	p, err := New(Config{ClusterName: "c1", Sink: sink.send, Interval: time.Hour})
	require.NoError(t, err)
	endSpans(p, "s", 4)
	require.NoError(t, p.Shutdown(context.Background()))
	names, _ := sink.totals(t)
	assert.Len(t, names, 4)
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	_, err := New(Config{Sink: func(*fleetv1.RelayedSpans) error { return nil }})
	require.ErrorContains(t, err, "cluster name")
	_, err = New(Config{ClusterName: "c1"})
	require.ErrorContains(t, err, "sink")
}

func TestAgentResource(t *testing.T) {
	sink := newStreamSink(true)
	p, err := New(Config{ClusterName: "prod-eu-1", ServiceVersion: "v0.3.0", Sink: sink.send, Interval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	endSpans(p, "s", 1)
	require.NoError(t, p.ForceFlush(context.Background()))
	b := sink.batches()
	require.Len(t, b, 1)
	attrs := map[string]string{}
	for _, kv := range resourceOf(t, b[0]).GetAttributes() {
		attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	assert.Equal(t, "kubedevaiops-agent", attrs["service.name"])
	assert.Equal(t, "prod-eu-1", attrs["kubedevaiops.cluster"])
	assert.Equal(t, "prod-eu-1", attrs["k8s.cluster.name"])
	assert.Equal(t, "v0.3.0", attrs["service.version"])
	assert.Equal(t, "go", attrs["telemetry.sdk.language"])
}
