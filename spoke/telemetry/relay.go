package telemetry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Sink takes one batch of relayed spans, typically by queueing it for the agent's stream.
// Returning an error (e.g. no stream right now) keeps the spans buffered for the next attempt;
// it must not block for long, since spans ending meanwhile are dropped once the buffer is full.
type Sink func(*fleetv1.RelayedSpans) error

// relay is a SpanProcessor holding finished spans in a bounded FIFO until the sink accepts them.
// Only the flusher removes from the front, and only after the sink accepted a batch, so a sink
// failure loses nothing but the spans that arrive while the buffer is full (counted as dropped).
type relay struct {
	sink          Sink
	maxBuffered   int
	batchSize     int
	maxBatchBytes int
	interval      time.Duration

	mu           sync.Mutex
	buf          []sdktrace.ReadOnlySpan
	unreported   uint64 // drops not yet carried in a RelayedSpans
	totalDropped uint64
	closed       bool

	flushMu  sync.Mutex // one flush at a time: the loop's and ForceFlush's
	kick     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func newRelay(sink Sink, maxBuffered, batchSize, maxBatchBytes int, interval time.Duration) *relay {
	r := &relay{
		sink: sink, maxBuffered: maxBuffered, batchSize: batchSize, maxBatchBytes: maxBatchBytes, interval: interval,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go r.loop()
	return r
}

func (r *relay) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (r *relay) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	r.mu.Lock()
	if r.closed || len(r.buf) >= r.maxBuffered {
		r.unreported++
		r.totalDropped++
		r.mu.Unlock()
		return
	}
	r.buf = append(r.buf, s)
	full := len(r.buf) >= r.batchSize
	r.mu.Unlock()
	if full {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

func (r *relay) loop() {
	defer close(r.done)
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		case <-r.kick:
		}
		// A failing sink is retried at the next tick; the spans stay buffered meanwhile.
		_ = r.flush(context.Background())
	}
}

// flush hands batches to the sink until the buffer is empty, the sink refuses, or ctx ends.
func (r *relay) flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.mu.Lock()
		n := min(len(r.buf), r.batchSize)
		batch := append([]sdktrace.ReadOnlySpan(nil), r.buf[:n]...)
		dropped := r.unreported
		r.mu.Unlock()
		if n == 0 && dropped == 0 {
			return nil
		}
		data, used, err := r.encode(batch)
		if err != nil {
			return err
		}
		if n > 0 && used == 0 {
			// One span larger than a whole batch may be can never be sent: drop it.
			r.mu.Lock()
			r.buf[0] = nil
			r.buf = r.buf[1:]
			r.unreported++
			r.totalDropped++
			r.mu.Unlock()
			continue
		}
		if err := r.sink(&fleetv1.RelayedSpans{OtlpExportTraceServiceRequest: data, DroppedSpans: dropped}); err != nil {
			return fmt.Errorf("relay %d spans: %w", used, err)
		}
		r.mu.Lock()
		clear(r.buf[:used]) // let the collector have the spans
		r.buf = r.buf[used:]
		r.unreported -= dropped
		r.mu.Unlock()
	}
}

// encode marshals the longest prefix of batch (halving) that fits in maxBatchBytes; used is
// how many spans it holds, 0 when even the first span alone does not fit.
func (r *relay) encode(batch []sdktrace.ReadOnlySpan) (data []byte, used int, err error) {
	for n := len(batch); n > 0; n /= 2 {
		data, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: ResourceSpans(batch[:n])})
		if err != nil {
			return nil, 0, fmt.Errorf("encode %d spans as OTLP: %w", n, err)
		}
		if len(data) <= r.maxBatchBytes {
			return data, n, nil
		}
	}
	return nil, 0, nil
}

func (r *relay) ForceFlush(ctx context.Context) error {
	return r.flush(ctx)
}

func (r *relay) Shutdown(ctx context.Context) error {
	r.stopOnce.Do(func() { close(r.stop) })
	select {
	case <-r.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	err := r.flush(ctx)
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	if err != nil {
		return errors.Join(errors.New("spans left unrelayed at shutdown"), err)
	}
	return nil
}

func (r *relay) stats() (buffered int, dropped uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buf), r.totalDropped
}
