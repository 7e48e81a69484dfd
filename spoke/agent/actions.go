package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/timestamppb"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubedevaiops/kubedevaiops/api/directive"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/spoke/analyze"
	"github.com/kubedevaiops/kubedevaiops/spoke/execute"
	"github.com/kubedevaiops/kubedevaiops/spoke/guard"
	spoketel "github.com/kubedevaiops/kubedevaiops/spoke/telemetry"
)

// outboxSize bounds the incident-loop messages waiting for the stream; findings and spans
// over it are retried by their producers, final action statuses are kept apart until acked.
const outboxSize = 256

// incidents is the agent's part of the incident loop: it sends the analyzers' findings, checks
// and executes the hub's directives, and relays its spans, on whichever stream is up.
type incidents struct {
	log    interface{ Info(string, ...any) }
	guard  *guard.Guard
	engine *execute.Engine
	runner *analyze.Runner
	tracer trace.Tracer
	up     func() bool

	out chan *fleetv1.SpokeMessage
	// ctx outlives streams: directives run to the end when the stream they came on breaks.
	ctx context.Context
	wg  sync.WaitGroup

	mu sync.Mutex
	// finals are final action statuses the hub has not acknowledged; resent on every stream.
	finals map[string]*fleetv1.ActionStatus
	// traces keeps the trace context of each active finding, so a resent finding stays in the
	// incident's trace.
	traces map[string]*fleetv1.TraceContext
}

// maxFindingTraces bounds incidents.traces; at the bound the oldest contexts are forgotten and
// a resent finding then carries none (the hub keeps the trace it first got).
const maxFindingTraces = 10000

func newIncidents() *incidents {
	return &incidents{out: make(chan *fleetv1.SpokeMessage, outboxSize), finals: map[string]*fleetv1.ActionStatus{}, traces: map[string]*fleetv1.TraceContext{}}
}

var errNoStream = errors.New("no stream to the hub right now")

// enqueue queues m for the stream without blocking.
func (in *incidents) enqueue(m *fleetv1.SpokeMessage) error {
	if !in.up() {
		return errNoStream
	}
	select {
	case in.out <- m:
		return nil
	default:
		return errors.New("the stream's outbox is full")
	}
}

// emitFindings is the analyzers' sink: each new finding opens a span, the root of its
// incident's trace, whose context travels with the finding (and its resends) to the hub.
func (in *incidents) emitFindings(ctx context.Context, findings []*fleetv1.Finding) error {
	if !in.up() {
		return errNoStream
	}
	in.mu.Lock()
	for _, f := range findings {
		key := f.GetObject().GetUid() + "/" + f.GetSignature()
		if f.GetResolved() {
			delete(in.traces, key)
			continue
		}
		tc, ok := in.traces[key]
		if !ok {
			_, span := in.tracer.Start(context.Background(), "finding", trace.WithAttributes(
				attribute.String("kubedevaiops.signature", f.GetSignature()), attribute.String("kubedevaiops.analyzer", f.GetAnalyzer()),
				attribute.String("k8s.namespace.name", f.GetObject().GetNamespace()), attribute.String("kubedevaiops.object", f.GetObject().GetKind()+"/"+f.GetObject().GetName()),
				attribute.String("kubedevaiops.summary", f.GetSummary())))
			tc = spoketel.TraceContextFrom(trace.ContextWithSpan(context.Background(), span))
			span.End()
			if len(in.traces) >= maxFindingTraces {
				for k := range in.traces {
					delete(in.traces, k)
					break
				}
			}
			in.traces[key] = tc
		}
		f.TraceContext = tc
	}
	in.mu.Unlock()
	return in.enqueue(&fleetv1.SpokeMessage{Body: &fleetv1.SpokeMessage_Findings{Findings: &fleetv1.Findings{Findings: findings}}})
}

// spans is the tracer's sink.
func (in *incidents) spans(rs *fleetv1.RelayedSpans) error {
	return in.enqueue(&fleetv1.SpokeMessage{Body: &fleetv1.SpokeMessage_RelayedSpans{RelayedSpans: rs}})
}

// report sends an action status; final ones are also kept until the hub acknowledges them.
func (in *incidents) report(st *fleetv1.ActionStatus) {
	if st.GetTime() == nil {
		st.Time = timestamppb.Now()
	}
	if finalPhase(st.GetPhase()) {
		in.mu.Lock()
		in.finals[st.GetActionId()+"/"+st.GetPhase().String()] = st
		in.mu.Unlock()
	}
	_ = in.enqueue(&fleetv1.SpokeMessage{Body: &fleetv1.SpokeMessage_ActionStatus{ActionStatus: st}})
}

func finalPhase(p fleetv1.ActionPhase) bool {
	switch p {
	case fleetv1.ActionPhase_ACTION_PHASE_REFUSED, fleetv1.ActionPhase_ACTION_PHASE_SUCCEEDED, fleetv1.ActionPhase_ACTION_PHASE_FAILED,
		fleetv1.ActionPhase_ACTION_PHASE_ROLLED_BACK:
		return true
	}
	return false
}

// acked drops the final statuses the hub recorded.
func (in *incidents) acked(ids []string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, id := range ids {
		for k, st := range in.finals {
			if st.GetActionId() == id {
				delete(in.finals, k)
			}
		}
	}
}

// unacked returns the final statuses to resend on a new stream.
func (in *incidents) unacked() []*fleetv1.ActionStatus {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]*fleetv1.ActionStatus, 0, len(in.finals))
	for _, st := range in.finals {
		out = append(out, st)
	}
	return out
}

// directive runs one directive in the background.
func (in *incidents) directive(sd *fleetv1.SignedDirective) {
	in.wg.Go(func() { in.handleDirective(in.ctx, sd) })
}

// handleDirective checks a directive with the guard and executes it. A refusal is reported
// (and so audited at the hub) and nothing runs. A replay of a directive that already ran gets
// its recorded result from the executor's ledger, then the refusal, so the hub learns the
// outcome even when the first report was lost.
func (in *incidents) handleDirective(ctx context.Context, sd *fleetv1.SignedDirective) {
	p, err := in.guard.Check(ctx, sd)
	if err != nil {
		in.refused(ctx, sd, err)
		return
	}
	ctx, span := spoketel.StartFromDirective(ctx, in.tracer, p.GetTraceContext(), "action.execute", trace.WithAttributes(
		attribute.String("kubedevaiops.action", p.GetActionId()), attribute.String("kubedevaiops.plan", p.GetPlanId()),
		attribute.String("kubedevaiops.action.type", p.GetActionType()), attribute.Bool("kubedevaiops.dry_run", p.GetDryRun()),
		attribute.String("kubedevaiops.target", p.GetTarget().GetKind()+"/"+p.GetTarget().GetNamespace()+"/"+p.GetTarget().GetName())))
	defer span.End()
	in.report(&fleetv1.ActionStatus{ActionId: p.GetActionId(), Phase: fleetv1.ActionPhase_ACTION_PHASE_RECEIVED, Reason: "Accepted",
		Message: "signature, audience, expiry, replay and local policy checked"})
	phases := newPhaseSpans(ctx, in.tracer)
	final := in.engine.Execute(ctx, p, func(st *fleetv1.ActionStatus) {
		phases.reached(st.GetPhase())
		in.report(st)
	})
	phases.reached(final.GetPhase())
	if final.GetPhase() != fleetv1.ActionPhase_ACTION_PHASE_SUCCEEDED && final.GetPhase() != fleetv1.ActionPhase_ACTION_PHASE_DRY_RUN {
		span.SetStatus(codes.Error, final.GetReason())
	}
	span.SetAttributes(attribute.String("kubedevaiops.action.phase", final.GetPhase().String()), attribute.String("kubedevaiops.action.reason", final.GetReason()))
	in.report(final)
}

func (in *incidents) refused(ctx context.Context, sd *fleetv1.SignedDirective, err error) {
	r, _ := guard.AsRefusal(err)
	st := &fleetv1.ActionStatus{Phase: fleetv1.ActionPhase_ACTION_PHASE_REFUSED, Reason: "CheckFailed", Message: err.Error()}
	var p *fleetv1.DirectivePayload
	if r != nil {
		st.Reason, st.Message, p = string(r.Reason), r.Message, r.Payload
	}
	if p == nil {
		if dp, derr := directive.DecodePayload(sd.GetPayload()); derr == nil {
			p = dp
		}
	}
	st.ActionId = p.GetActionId()
	if st.ActionId == "" {
		st.ActionId = "unidentified"
	}
	in.log.Info("directive refused", "action", st.ActionId, "reason", st.Reason, "message", st.Message)
	if r != nil && r.Authenticated {
		_, span := spoketel.StartFromDirective(ctx, in.tracer, p.GetTraceContext(), "action.refused",
			trace.WithAttributes(attribute.String("kubedevaiops.action", st.ActionId), attribute.String("kubedevaiops.action.reason", st.Reason)))
		span.SetStatus(codes.Error, st.Reason)
		span.End()
		if r.Reason == guard.ReasonReplayed {
			// Only the ledger's record is reported: the executor acts at most once per action id.
			if rec := in.engine.Execute(ctx, p, func(*fleetv1.ActionStatus) {}); rec != nil && finalPhase(rec.GetPhase()) {
				in.report(rec)
			}
		}
	}
	in.report(st)
}

// phaseSpans records one child span per stretch of an execution: the dry-run, the apply and
// the verification, each ending when the executor reports the next phase.
type phaseSpans struct {
	ctx    context.Context
	tracer trace.Tracer
	name   string
	start  time.Time
}

func newPhaseSpans(ctx context.Context, tracer trace.Tracer) *phaseSpans {
	return &phaseSpans{ctx: ctx, tracer: tracer, name: "dry-run", start: time.Now()}
}

func (p *phaseSpans) reached(phase fleetv1.ActionPhase) {
	now := time.Now()
	if p.name != "" {
		_, s := p.tracer.Start(p.ctx, p.name, trace.WithTimestamp(p.start))
		if phase == fleetv1.ActionPhase_ACTION_PHASE_FAILED || phase == fleetv1.ActionPhase_ACTION_PHASE_ROLLED_BACK {
			s.SetStatus(codes.Error, phase.String())
		}
		s.End(trace.WithTimestamp(now))
	}
	p.start = now
	switch phase {
	case fleetv1.ActionPhase_ACTION_PHASE_APPLYING:
		p.name = "apply"
	case fleetv1.ActionPhase_ACTION_PHASE_VERIFYING:
		p.name = "verify"
	default:
		p.name = ""
	}
}

// workloadVerifier is the executor's "finding gone" check: after a rollout, none of the
// target's pods may still show a problem to the pod analyzer.
type workloadVerifier struct {
	in analyze.Input
}

func (v workloadVerifier) Verify(ctx context.Context, d *fleetv1.DirectivePayload) (bool, string, error) {
	t := d.GetTarget()
	if t.GetKind() == "HorizontalPodAutoscaler" {
		return true, "", nil
	}
	findings, err := (&analyze.Pod{}).Analyze(ctx, v.in)
	if err != nil {
		return false, "", err
	}
	for _, f := range findings {
		o := f.GetObject()
		if o.GetNamespace() != t.GetNamespace() {
			continue
		}
		if v.ownedBy(ctx, f, t) {
			return false, fmt.Sprintf("%s %s still shows %s", o.GetKind(), o.GetName(), f.GetSignature()), nil
		}
	}
	return true, "", nil
}

// ownedBy reports whether a pod finding concerns the target: the target pod itself, or a pod
// whose owner chain (ReplicaSet -> Deployment, or StatefulSet/DaemonSet) leads to the target.
func (v workloadVerifier) ownedBy(ctx context.Context, f *fleetv1.Finding, t *fleetv1.ObjectRef) bool {
	o := f.GetObject()
	if o.GetKind() == t.GetKind() && o.GetName() == t.GetName() {
		return true
	}
	var pod corev1.Pod
	if err := v.in.Reader.Get(ctx, client.ObjectKey{Namespace: o.GetNamespace(), Name: o.GetName()}, &pod); err != nil {
		return false
	}
	for _, ref := range pod.OwnerReferences {
		if ref.Kind == t.GetKind() && ref.Name == t.GetName() {
			return true
		}
		if ref.Kind != "ReplicaSet" {
			continue
		}
		var rs appsv1.ReplicaSet
		if err := v.in.Reader.Get(ctx, client.ObjectKey{Namespace: o.GetNamespace(), Name: ref.Name}, &rs); err != nil {
			continue
		}
		for _, up := range rs.OwnerReferences {
			if up.Kind == t.GetKind() && up.Name == t.GetName() {
				return true
			}
		}
	}
	return false
}
