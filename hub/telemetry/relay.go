package telemetry

import (
	"context"
	"errors"
	"fmt"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

var (
	// ErrInvalidSpans: the relayed bytes are not a well-formed OTLP trace export; nothing of
	// the request was kept.
	ErrInvalidSpans = errors.New("relayed spans are not a valid OTLP ExportTraceServiceRequest")
	// ErrForeignCluster: some relayed spans came under a resource naming another cluster; they
	// were dropped and the rest relayed.
	ErrForeignCluster = errors.New("relayed spans claim another cluster")
)

// k8sClusterNameKey is the semantic-convention cluster attribute; a spoke may set it, but only
// to its own name.
const k8sClusterNameKey = "k8s.cluster.name"

// Relay takes the spans a spoke sent on its stream: it refuses a malformed request whole
// (ErrInvalidSpans), drops resources naming another cluster than the stream's authenticated
// clusterName (then returns ErrForeignCluster, having relayed the rest), sets
// kubedevaiops.cluster to clusterName on every resource and removes any kubedevaiops.member a
// spoke put there, records the spans in the recent store, and queues them for export over the
// hub's OTLP client (dropping and counting them if the queue is full). It does not wait for
// the export, so a slow collector never holds up a stream.
func (t *Telemetry) Relay(ctx context.Context, clusterName string, rs *fleetv1.RelayedSpans) error {
	if clusterName == "" {
		return errors.New("relay spans: no authenticated cluster name")
	}
	if rs == nil {
		t.stats.refused.Add(1)
		return fmt.Errorf("cluster %q: %w: no RelayedSpans message", clusterName, ErrInvalidSpans)
	}
	t.stats.spokeDropped.Add(rs.GetDroppedSpans())
	data := rs.GetOtlpExportTraceServiceRequest()
	if len(data) == 0 {
		return nil // only a drop report
	}
	if len(data) > t.maxRelayBytes {
		t.stats.refused.Add(1)
		return fmt.Errorf("cluster %q: %w: %d bytes, more than the %d accepted", clusterName, ErrInvalidSpans, len(data), t.maxRelayBytes)
	}
	req := &coltracepb.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(data, req); err != nil {
		t.stats.refused.Add(1)
		return fmt.Errorf("cluster %q: %w: %v", clusterName, ErrInvalidSpans, err)
	}
	if err := validate(req); err != nil {
		t.stats.refused.Add(1)
		return fmt.Errorf("cluster %q: %w: %v", clusterName, ErrInvalidSpans, err)
	}

	kept := req.ResourceSpans[:0]
	var foreign, n int
	for _, r := range req.ResourceSpans {
		count := spanCount(r)
		if claimed := otherCluster(r.GetResource(), clusterName); claimed != "" {
			foreign += count
			continue
		}
		if r.Resource == nil {
			r.Resource = &resourcepb.Resource{}
		}
		r.Resource.Attributes = setCluster(r.Resource.Attributes, clusterName)
		kept = append(kept, r)
		n += count
	}
	t.stats.foreign.Add(uint64(foreign))
	t.stats.relayed.Add(uint64(n))
	t.record(kept)
	t.enqueue(kept, n)
	if foreign > 0 {
		return fmt.Errorf("cluster %q: %w: %d spans dropped", clusterName, ErrForeignCluster, foreign)
	}
	return nil
}

// validate checks what the store and a collector rely on: a request with spans, each with a
// 16-byte trace id, an 8-byte span id, an empty or 8-byte parent, an end not before its start,
// and well-formed link ids. Bytes that are not OTLP at all usually decode into unknown fields
// and no spans, and are refused by the first check.
func validate(req *coltracepb.ExportTraceServiceRequest) error {
	total := 0
	for i, r := range req.GetResourceSpans() {
		for j, ss := range r.GetScopeSpans() {
			for k, s := range ss.GetSpans() {
				total++
				where := fmt.Sprintf("resource %d scope %d span %d (%q)", i, j, k, s.GetName())
				if !validID(s.GetTraceId(), 16) {
					return fmt.Errorf("%s: trace id is %d bytes or all zero, want 16 non-zero bytes", where, len(s.GetTraceId()))
				}
				if !validID(s.GetSpanId(), 8) {
					return fmt.Errorf("%s: span id is %d bytes or all zero, want 8 non-zero bytes", where, len(s.GetSpanId()))
				}
				if p := s.GetParentSpanId(); len(p) != 0 && len(p) != 8 {
					return fmt.Errorf("%s: parent span id is %d bytes, want 8 or none", where, len(p))
				}
				if s.GetEndTimeUnixNano() < s.GetStartTimeUnixNano() {
					return fmt.Errorf("%s: ends before it starts", where)
				}
				for l, link := range s.GetLinks() {
					if !validID(link.GetTraceId(), 16) || !validID(link.GetSpanId(), 8) {
						return fmt.Errorf("%s link %d: malformed trace or span id", where, l)
					}
				}
			}
		}
	}
	if total == 0 {
		return errors.New("no spans in it")
	}
	return nil
}

func validID(id []byte, size int) bool {
	if len(id) != size {
		return false
	}
	for _, b := range id {
		if b != 0 {
			return true
		}
	}
	return false
}

func spanCount(r *tracepb.ResourceSpans) int {
	n := 0
	for _, ss := range r.GetScopeSpans() {
		n += len(ss.GetSpans())
	}
	return n
}

// otherCluster is the cluster a resource names when it is not clusterName, else "".
func otherCluster(res *resourcepb.Resource, clusterName string) string {
	for _, kv := range res.GetAttributes() {
		if kv.GetKey() != string(ClusterKey) && kv.GetKey() != k8sClusterNameKey {
			continue
		}
		if v := anyString(kv.GetValue()); v != clusterName {
			return v
		}
	}
	return ""
}

// setCluster makes kubedevaiops.cluster the authenticated name and removes a member claim.
func setCluster(attrs []*commonpb.KeyValue, clusterName string) []*commonpb.KeyValue {
	out := attrs[:0]
	for _, kv := range attrs {
		if kv.GetKey() != string(ClusterKey) && kv.GetKey() != string(MemberKey) {
			out = append(out, kv)
		}
	}
	return append(out, &commonpb.KeyValue{
		Key:   string(ClusterKey),
		Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: clusterName}},
	})
}

func (t *Telemetry) record(rss []*tracepb.ResourceSpans) {
	var views []Span
	for _, r := range rss {
		for _, ss := range r.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				views = append(views, spanFromOTLP(r.GetResource(), s))
			}
		}
	}
	t.store.Add(views...)
}

func (t *Telemetry) enqueue(rss []*tracepb.ResourceSpans, n int) {
	if t.queue == nil || n == 0 {
		return
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		t.stats.queueDropped.Add(uint64(n))
		return
	}
	select {
	case t.queue <- relayJob{spans: rss, n: n}:
	default:
		t.stats.queueDropped.Add(uint64(n))
	}
}

// exportRelayed uploads queued relays one at a time through the shared OTLP client.
func (t *Telemetry) exportRelayed() {
	defer close(t.done)
	for job := range t.queue {
		if job.flushed != nil {
			close(job.flushed)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*t.timeout)
		err := t.client.UploadTraces(ctx, job.spans)
		cancel()
		if err != nil {
			t.stats.exportFailures.Add(1)
			t.log.Warn("export relayed spans", "spans", job.n, "err", err)
		}
	}
}
