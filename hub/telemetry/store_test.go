package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// clock is a settable time source for age eviction.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func view(traceID, spanID, parent string, attrs map[string]string) Span {
	return Span{TraceID: traceID, SpanID: spanID, ParentSpanID: parent, Name: "s-" + spanID, Attributes: attrs}
}

func TestStoreEvictsByCountOldestActivityFirst(t *testing.T) {
	c := &clock{now: time.Unix(1000, 0)}
	s := NewStore(StoreConfig{MaxTraces: 2, Now: c.Now})
	s.Add(view("t1", "a", "", nil))
	c.now = c.now.Add(time.Second)
	s.Add(view("t2", "a", "", nil))
	c.now = c.now.Add(time.Second)
	s.Add(view("t1", "b", "a", nil)) // t1 is now the most recently active
	c.now = c.now.Add(time.Second)
	s.Add(view("t3", "a", "", nil))

	assert.Equal(t, 2, s.Len())
	assert.Nil(t, s.Trace("t2"), "t2 had the oldest last span")
	assert.Len(t, s.Trace("t1"), 2)
	assert.Len(t, s.Trace("t3"), 1)
}

func TestStoreEvictsByAgeOfLastSpan(t *testing.T) {
	c := &clock{now: time.Unix(1000, 0)}
	s := NewStore(StoreConfig{MaxAge: time.Minute, Now: c.Now})
	s.Add(view("old", "a", "", nil))
	c.now = c.now.Add(50 * time.Second)
	s.Add(view("young", "a", "", nil))
	c.now = c.now.Add(20 * time.Second) // old: 70s since its last span, young: 20s

	assert.Nil(t, s.Trace("old"))
	assert.NotNil(t, s.Trace("young"))
	c.now = c.now.Add(40 * time.Second)
	assert.Equal(t, 0, s.Len())
}

func TestStoreBoundsSpansPerTraceAndReplacesDuplicates(t *testing.T) {
	s := NewStore(StoreConfig{MaxSpansPerTrace: 3})
	for i := range 5 {
		s.Add(view("t", fmt.Sprint(i), "", nil))
	}
	dup := view("t", "1", "", nil)
	dup.Name = "replaced"
	s.Add(dup)
	spans := s.Trace("t")
	require.Len(t, spans, 3)
	assert.Equal(t, "replaced", spans[1].Name)
	sum, ok := s.Summary("t")
	require.True(t, ok)
	assert.Equal(t, 3, sum.Spans)
	assert.Equal(t, 2, sum.Dropped)
}

func TestStoreFindTraces(t *testing.T) {
	c := &clock{now: time.Unix(1000, 0)}
	s := NewStore(StoreConfig{Now: c.Now})
	s.Add(view("t1", "a", "", map[string]string{"kubedevaiops.plan": "p1", "k8s.namespace.name": "shop"}))
	c.now = c.now.Add(time.Second)
	s.Add(view("t2", "a", "", map[string]string{"kubedevaiops.plan": "p2"}))
	c.now = c.now.Add(time.Second)
	s.Add(view("t3", "b", "", map[string]string{"kubedevaiops.plan": "p1"}))

	assert.Equal(t, []string{"t3", "t1"}, s.FindTraces(PlanKey, "p1"), "indexed, most recent first")
	assert.Equal(t, []string{"t1"}, s.FindTraces("k8s.namespace.name", "shop"), "not indexed: scanned")
	assert.Empty(t, s.FindTraces(PlanKey, "nope"))
}

func TestTreeAndWriteTree(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	spans := []Span{
		{TraceID: "t", SpanID: "c2", ParentSpanID: "r", Name: "execute", Service: "kubedevaiops-agent", Cluster: "prod-1",
			Start: t0.Add(2 * time.Second), End: t0.Add(5 * time.Second), Status: "error", StatusMessage: "verify failed",
			Attributes: map[string]string{"kubedevaiops.action": "rollback"}},
		{TraceID: "t", SpanID: "r", Name: "incident", Service: "kubedevaiops-hub", Member: "hub-1",
			Start: t0, End: t0.Add(6 * time.Second), Status: "ok", Attributes: map[string]string{"kubedevaiops.plan": "p1"}},
		{TraceID: "t", SpanID: "c1", ParentSpanID: "r", Name: "diagnose", Service: "kubedevaiops-hub", Member: "hub-1",
			Start: t0.Add(time.Second), End: t0.Add(1500 * time.Millisecond), Status: "unset"},
		{TraceID: "t", SpanID: "orphan", ParentSpanID: "gone", Name: "late", Service: "kubedevaiops-hub", Status: "unset", Start: t0.Add(10 * time.Second), End: t0.Add(10 * time.Second)},
	}
	roots := Tree(spans)
	require.Len(t, roots, 2)
	assert.Equal(t, "incident", roots[0].Span.Name)
	require.Len(t, roots[0].Children, 2)
	assert.Equal(t, "diagnose", roots[0].Children[0].Span.Name)
	assert.Equal(t, "late", roots[1].Span.Name)

	var buf bytes.Buffer
	require.NoError(t, WriteTree(&buf, spans, "kubedevaiops.plan", "kubedevaiops.action"))
	assert.Equal(t, strings.Join([]string{
		"incident  [kubedevaiops-hub, member hub-1]  2026-01-02T03:04:05Z  6s  ok  kubedevaiops.plan=p1",
		"  diagnose  [kubedevaiops-hub, member hub-1]  2026-01-02T03:04:06Z  500ms  unset",
		"  execute  [kubedevaiops-agent, cluster prod-1]  2026-01-02T03:04:07Z  3s  error: verify failed  kubedevaiops.action=rollback",
		"late  [kubedevaiops-hub]  2026-01-02T03:04:15Z  0s  unset",
		"",
	}, "\n"), buf.String())
}

func TestSpanViewSerialises(t *testing.T) {
	in := Span{TraceID: "t", SpanID: "s", Name: "n", Kind: "client", Service: "svc", Start: time.Unix(5, 6).UTC(), End: time.Unix(7, 8).UTC(),
		Status: "ok", Attributes: map[string]string{"a": "b"}, Events: []Event{{Name: "e", Time: time.Unix(6, 0).UTC()}}}
	data, err := json.Marshal(in)
	require.NoError(t, err)
	var out Span
	require.NoError(t, json.Unmarshal(data, &out))
	assert.Equal(t, in, out)
}

func TestHubSpansReachTheStore(t *testing.T) {
	tel := localHub(t)
	ctx, root := tel.Tracer().Start(context.Background(), "incident", trace.WithAttributes(PlanKey.String("plan-7")))
	_, child := tel.Tracer().Start(ctx, "diagnose", trace.WithAttributes(
		attribute.Int64("n", 3), attribute.StringSlice("images", []string{"a:1", "b:2"}), attribute.String("long", strings.Repeat("é", 300))))
	child.AddEvent("evidence", trace.WithAttributes(attribute.Bool("rollout", true)))
	child.SetStatus(codes.Error, "no candidate")
	child.End()
	root.End()

	ids := tel.Store().FindTraces(PlanKey, "plan-7")
	require.Len(t, ids, 1)
	assert.Equal(t, root.SpanContext().TraceID().String(), ids[0])
	spans := tel.Store().Trace(ids[0])
	require.Len(t, spans, 2)
	assert.Equal(t, "incident", spans[0].Name)
	d := spans[1]
	assert.Equal(t, "kubedevaiops-hub", d.Service)
	assert.Equal(t, "hub-1", d.Member)
	assert.Equal(t, root.SpanContext().SpanID().String(), d.ParentSpanID)
	assert.Equal(t, "3", d.Attributes["n"])
	assert.Equal(t, `["a:1","b:2"]`, d.Attributes["images"])
	assert.LessOrEqual(t, len(d.Attributes["long"]), maxValueLen+len("…"))
	assert.True(t, strings.HasSuffix(d.Attributes["long"], "é…"), "cut on a character boundary")
	assert.Equal(t, "error", d.Status)
	assert.Equal(t, "no candidate", d.StatusMessage)
	require.Len(t, d.Events, 1)
	assert.Equal(t, "true", d.Events[0].Attributes["rollout"])
	sum, ok := tel.Store().Summary(ids[0])
	require.True(t, ok)
	assert.Equal(t, "incident", sum.Root)
	assert.Equal(t, 2, sum.Spans)
}
