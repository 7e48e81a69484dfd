package telemetry

import (
	"container/list"
	"context"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// PlanKey is the span attribute naming the plan a span belongs to; `trace show PLAN` finds the
// trace by it.
const PlanKey = attribute.Key("kubedevaiops.plan")

// StoreConfig bounds the recent-trace store. Zero values take the defaults shown.
type StoreConfig struct {
	// MaxTraces is the most traces kept; past it the trace with the oldest last span goes (1000).
	MaxTraces int
	// MaxSpansPerTrace is the most spans kept of one trace; later ones are counted, not kept (1000).
	MaxSpansPerTrace int
	// MaxAge is how long a trace is kept after its last span arrived (1h).
	MaxAge time.Duration
	// IndexedKeys are the span attributes FindTraces answers from an index; other keys are
	// answered by scanning ([PlanKey]).
	IndexedKeys []attribute.Key
	// Now is the clock (time.Now); tests set it.
	Now func() time.Time
}

// TraceSummary describes one stored trace.
type TraceSummary struct {
	TraceID  string    `json:"traceId"`
	Root     string    `json:"root"` // name of the earliest span without a stored parent
	Start    time.Time `json:"start"`
	LastSeen time.Time `json:"lastSeen"` // when its last span arrived
	Spans    int       `json:"spans"`
	Dropped  int       `json:"dropped"` // spans past MaxSpansPerTrace
}

// Store keeps the recent traces of this hub member, fed by the member's own spans and by the
// spans it relayed. Eviction: a trace is dropped MaxAge after its last span arrived, and when
// more than MaxTraces are kept the one whose last span is oldest goes first; a trace keeps at
// most MaxSpansPerTrace spans. Every member has its own store: a trace whose spans went through
// several members (after a failover) is complete only on the union of their answers.
type Store struct {
	cfg     StoreConfig
	indexed map[attribute.Key]bool

	mu     sync.Mutex
	traces map[string]*list.Element // of *storedTrace, oldest last span at the front
	order  *list.List
}

type storedTrace struct {
	id       string
	spans    []Span
	bySpanID map[string]int
	index    map[attribute.Key]map[string]bool
	lastSeen time.Time
	dropped  int
}

// NewStore makes an empty store.
func NewStore(cfg StoreConfig) *Store {
	if cfg.MaxTraces <= 0 {
		cfg.MaxTraces = 1000
	}
	if cfg.MaxSpansPerTrace <= 0 {
		cfg.MaxSpansPerTrace = 1000
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = time.Hour
	}
	if cfg.IndexedKeys == nil {
		cfg.IndexedKeys = []attribute.Key{PlanKey}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Store{cfg: cfg, indexed: map[attribute.Key]bool{}, traces: map[string]*list.Element{}, order: list.New()}
	for _, k := range cfg.IndexedKeys {
		s.indexed[k] = true
	}
	return s
}

// Add stores spans; a span already stored (same trace and span id) replaces the stored one.
func (s *Store) Add(spans ...Span) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	s.expire(now)
	for _, sp := range spans {
		el, ok := s.traces[sp.TraceID]
		if !ok {
			el = s.order.PushBack(&storedTrace{id: sp.TraceID, bySpanID: map[string]int{}, index: map[attribute.Key]map[string]bool{}})
			s.traces[sp.TraceID] = el
		}
		t := el.Value.(*storedTrace)
		t.lastSeen = now
		s.order.MoveToBack(el)
		if i, dup := t.bySpanID[sp.SpanID]; dup {
			t.spans[i] = sp
		} else if len(t.spans) >= s.cfg.MaxSpansPerTrace {
			t.dropped++
			continue
		} else {
			t.bySpanID[sp.SpanID] = len(t.spans)
			t.spans = append(t.spans, sp)
		}
		for k, v := range sp.Attributes {
			if key := attribute.Key(k); s.indexed[key] {
				if t.index[key] == nil {
					t.index[key] = map[string]bool{}
				}
				t.index[key][v] = true
			}
		}
	}
	for s.order.Len() > s.cfg.MaxTraces {
		s.remove(s.order.Front())
	}
}

func (s *Store) expire(now time.Time) {
	for el := s.order.Front(); el != nil; el = s.order.Front() {
		if now.Sub(el.Value.(*storedTrace).lastSeen) < s.cfg.MaxAge {
			return
		}
		s.remove(el)
	}
}

func (s *Store) remove(el *list.Element) {
	delete(s.traces, el.Value.(*storedTrace).id)
	s.order.Remove(el)
}

// Trace is the stored spans of a trace (lowercase hex id) in start order; nil when unknown.
func (s *Store) Trace(traceID string) []Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(s.cfg.Now())
	el, ok := s.traces[traceID]
	if !ok {
		return nil
	}
	out := append([]Span(nil), el.Value.(*storedTrace).spans...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// FindTraces is the ids of the stored traces with a span whose attribute key has value, the
// most recently active first; e.g. FindTraces(PlanKey, planID).
func (s *Store) FindTraces(key attribute.Key, value string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(s.cfg.Now())
	var out []string
	for el := s.order.Back(); el != nil; el = el.Prev() {
		t := el.Value.(*storedTrace)
		if s.indexed[key] {
			if t.index[key][value] {
				out = append(out, t.id)
			}
			continue
		}
		for _, sp := range t.spans {
			if v, ok := sp.Attributes[string(key)]; ok && v == value {
				out = append(out, t.id)
				break
			}
		}
	}
	return out
}

// Summary describes a stored trace.
func (s *Store) Summary(traceID string) (TraceSummary, bool) {
	spans := s.Trace(traceID)
	if spans == nil {
		return TraceSummary{}, false
	}
	s.mu.Lock()
	el, ok := s.traces[traceID]
	var sum TraceSummary
	if ok {
		t := el.Value.(*storedTrace)
		sum = TraceSummary{TraceID: traceID, LastSeen: t.lastSeen, Spans: len(t.spans), Dropped: t.dropped}
	}
	s.mu.Unlock()
	if !ok {
		return TraceSummary{}, false
	}
	if roots := Tree(spans); len(roots) > 0 {
		sum.Root = roots[0].Span.Name
		sum.Start = roots[0].Span.Start
	}
	return sum, true
}

// Len is how many traces are stored.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(s.cfg.Now())
	return s.order.Len()
}

// storeProcessor records the hub's own finished spans in the store.
type storeProcessor struct{ store *Store }

func (p storeProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (p storeProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if s.SpanContext().IsSampled() {
		p.store.Add(spanFromSDK(s))
	}
}

func (p storeProcessor) Shutdown(context.Context) error   { return nil }
func (p storeProcessor) ForceFlush(context.Context) error { return nil }
