package telemetry

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// maxValueLen bounds each attribute value kept in the recent store, so one large attribute
// cannot make the store's memory bound meaningless.
const maxValueLen = 256

// Span is a finished span as the recent store keeps it: flat, string-valued, serialisable.
type Span struct {
	TraceID       string            `json:"traceId"`
	SpanID        string            `json:"spanId"`
	ParentSpanID  string            `json:"parentSpanId,omitempty"`
	Name          string            `json:"name"`
	Kind          string            `json:"kind"` // internal, server, client, producer, consumer, unspecified
	Service       string            `json:"service"`
	Cluster       string            `json:"cluster,omitempty"` // kubedevaiops.cluster: set on spoke spans
	Member        string            `json:"member,omitempty"`  // kubedevaiops.member: set on hub spans
	Start         time.Time         `json:"start"`
	End           time.Time         `json:"end"`
	Status        string            `json:"status"` // unset, ok, error
	StatusMessage string            `json:"statusMessage,omitempty"`
	Attributes    map[string]string `json:"attributes,omitempty"`
	Events        []Event           `json:"events,omitempty"`
}

// Event is a span event.
type Event struct {
	Name       string            `json:"name"`
	Time       time.Time         `json:"time"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// Duration is how long the span took.
func (s Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// Node is a span with its children, for printing a trace as a tree.
type Node struct {
	Span     Span
	Children []*Node
}

// Tree arranges a trace's spans by parent; spans whose parent is not among them are roots.
// Roots and children are in start order.
func Tree(spans []Span) []*Node {
	nodes := make(map[string]*Node, len(spans))
	for _, s := range spans {
		nodes[s.SpanID] = &Node{Span: s}
	}
	var roots []*Node
	for _, s := range spans {
		n := nodes[s.SpanID]
		if p, ok := nodes[s.ParentSpanID]; ok && s.ParentSpanID != s.SpanID {
			p.Children = append(p.Children, n)
		} else {
			roots = append(roots, n)
		}
	}
	var order func([]*Node)
	order = func(ns []*Node) {
		sort.SliceStable(ns, func(i, j int) bool { return ns[i].Span.Start.Before(ns[j].Span.Start) })
		for _, n := range ns {
			order(n.Children)
		}
	}
	order(roots)
	return roots
}

// WriteTree prints a trace as an indented tree: name, service, where it ran, start, duration,
// status and the attributes named in keys (those present).
func WriteTree(w io.Writer, spans []Span, keys ...string) error {
	var walk func(n *Node, depth int) error
	walk = func(n *Node, depth int) error {
		s := n.Span
		where := s.Member
		if s.Cluster != "" {
			where = "cluster " + s.Cluster
		} else if where != "" {
			where = "member " + where
		}
		line := fmt.Sprintf("%s%s  [%s", strings.Repeat("  ", depth), s.Name, s.Service)
		if where != "" {
			line += ", " + where
		}
		line += fmt.Sprintf("]  %s  %s  %s", s.Start.UTC().Format(time.RFC3339Nano), s.Duration(), s.Status)
		if s.StatusMessage != "" {
			line += ": " + s.StatusMessage
		}
		for _, k := range keys {
			if v, ok := s.Attributes[k]; ok {
				line += fmt.Sprintf("  %s=%s", k, v)
			}
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
		for _, c := range n.Children {
			if err := walk(c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	for _, root := range Tree(spans) {
		if err := walk(root, 0); err != nil {
			return err
		}
	}
	return nil
}

// spanFromSDK is the view of one of the hub's own spans.
func spanFromSDK(s sdktrace.ReadOnlySpan) Span {
	sc := s.SpanContext()
	v := Span{
		TraceID:    sc.TraceID().String(),
		SpanID:     sc.SpanID().String(),
		Name:       s.Name(),
		Kind:       kindName(s.SpanKind()),
		Start:      s.StartTime(),
		End:        s.EndTime(),
		Status:     statusName(s.Status().Code),
		Attributes: sdkAttrs(s.Attributes()),
	}
	if s.Status().Code == codes.Error {
		v.StatusMessage = s.Status().Description
	}
	if p := s.Parent(); p.SpanID().IsValid() {
		v.ParentSpanID = p.SpanID().String()
	}
	for _, kv := range s.Resource().Attributes() {
		switch kv.Key {
		case "service.name":
			v.Service = kv.Value.Emit()
		case ClusterKey:
			v.Cluster = kv.Value.Emit()
		case MemberKey:
			v.Member = kv.Value.Emit()
		}
	}
	for _, e := range s.Events() {
		v.Events = append(v.Events, Event{Name: e.Name, Time: e.Time, Attributes: sdkAttrs(e.Attributes)})
	}
	return v
}

// spanFromOTLP is the view of a relayed span.
func spanFromOTLP(res *resourcepb.Resource, s *tracepb.Span) Span {
	v := Span{
		TraceID:    hex.EncodeToString(s.GetTraceId()),
		SpanID:     hex.EncodeToString(s.GetSpanId()),
		Name:       s.GetName(),
		Kind:       kindName(trace.SpanKind(s.GetKind())),
		Start:      fromUnixNano(s.GetStartTimeUnixNano()),
		End:        fromUnixNano(s.GetEndTimeUnixNano()),
		Attributes: otlpAttrs(s.GetAttributes()),
	}
	if len(s.GetParentSpanId()) > 0 {
		v.ParentSpanID = hex.EncodeToString(s.GetParentSpanId())
	}
	switch s.GetStatus().GetCode() {
	case tracepb.Status_STATUS_CODE_OK:
		v.Status = "ok"
	case tracepb.Status_STATUS_CODE_ERROR:
		v.Status = "error"
		v.StatusMessage = truncate(s.GetStatus().GetMessage())
	default:
		v.Status = "unset"
	}
	for _, kv := range res.GetAttributes() {
		switch attribute.Key(kv.GetKey()) {
		case "service.name":
			v.Service = anyString(kv.GetValue())
		case ClusterKey:
			v.Cluster = anyString(kv.GetValue())
		case MemberKey:
			v.Member = anyString(kv.GetValue())
		}
	}
	for _, e := range s.GetEvents() {
		v.Events = append(v.Events, Event{Name: e.GetName(), Time: fromUnixNano(e.GetTimeUnixNano()), Attributes: otlpAttrs(e.GetAttributes())})
	}
	return v
}

// OTLP numbers span kinds as the API does (unspecified 0, internal 1, ... consumer 5).
func kindName(k trace.SpanKind) string {
	switch k {
	case trace.SpanKindInternal:
		return "internal"
	case trace.SpanKindServer:
		return "server"
	case trace.SpanKindClient:
		return "client"
	case trace.SpanKindProducer:
		return "producer"
	case trace.SpanKindConsumer:
		return "consumer"
	default:
		return "unspecified"
	}
}

func statusName(c codes.Code) string {
	switch c {
	case codes.Ok:
		return "ok"
	case codes.Error:
		return "error"
	default:
		return "unset"
	}
}

func fromUnixNano(ns uint64) time.Time {
	if ns == 0 || ns > 1<<63-1 {
		return time.Time{}
	}
	return time.Unix(0, int64(ns)).UTC()
}

func sdkAttrs(kvs []attribute.KeyValue) map[string]string {
	if len(kvs) == 0 {
		return nil
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		out[string(kv.Key)] = truncate(kv.Value.Emit())
	}
	return out
}

func otlpAttrs(kvs []*commonpb.KeyValue) map[string]string {
	if len(kvs) == 0 {
		return nil
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		out[kv.GetKey()] = truncate(anyString(kv.GetValue()))
	}
	return out
}

// anyString renders an OTLP value as text: scalars as attribute.Value.Emit does, arrays and
// maps JSON-like with quoted elements.
func anyString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonpb.AnyValue_BytesValue:
		return base64.StdEncoding.EncodeToString(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		parts := make([]string, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			parts = append(parts, strconv.Quote(anyString(e)))
		}
		return "[" + strings.Join(parts, ",") + "]"
	case *commonpb.AnyValue_KvlistValue:
		parts := make([]string, 0, len(x.KvlistValue.GetValues()))
		for _, kv := range x.KvlistValue.GetValues() {
			parts = append(parts, strconv.Quote(kv.GetKey())+":"+strconv.Quote(anyString(kv.GetValue())))
		}
		return "{" + strings.Join(parts, ",") + "}"
	default:
		return ""
	}
}

func truncate(s string) string {
	if len(s) <= maxValueLen {
		return s
	}
	cut := maxValueLen
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// ToProto is the Fleet API form of s, as GetTrace returns it.
func (s Span) ToProto() *fleetv1.TraceSpan {
	return &fleetv1.TraceSpan{
		TraceId: s.TraceID, SpanId: s.SpanID, ParentSpanId: s.ParentSpanID, Name: s.Name, Service: s.Service,
		Cluster: s.Cluster, Member: s.Member, StartTime: timestamppb.New(s.Start), EndTime: timestamppb.New(s.End),
		StatusCode: s.Status, StatusMessage: s.StatusMessage, Attributes: s.Attributes,
	}
}

// FromProto is the inverse of ToProto, for printing spans an API answer carried.
func FromProto(p *fleetv1.TraceSpan) Span {
	return Span{TraceID: p.GetTraceId(), SpanID: p.GetSpanId(), ParentSpanID: p.GetParentSpanId(), Name: p.GetName(), Service: p.GetService(),
		Cluster: p.GetCluster(), Member: p.GetMember(), Start: p.GetStartTime().AsTime(), End: p.GetEndTime().AsTime(),
		Status: p.GetStatusCode(), StatusMessage: p.GetStatusMessage(), Attributes: p.GetAttributes()}
}

// Spans answers GetTrace from this member's store, in the Fleet API form.
func (s *Store) Spans(traceID string) []*fleetv1.TraceSpan {
	spans := s.Trace(traceID)
	out := make([]*fleetv1.TraceSpan, len(spans))
	for i, sp := range spans {
		out[i] = sp.ToProto()
	}
	return out
}
