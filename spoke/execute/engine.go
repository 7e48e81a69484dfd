package execute

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/protobuf/proto"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// FieldManager is the field manager of every write the engine makes.
const FieldManager = "kubedevaiops"

// Verifier reports whether the problem a directive was sent to fix is gone (for example, the
// analyzer's finding no longer fires). The engine polls it during verification, after the
// action's own check (rollout complete) passes; fixed must hold, with the rollout, for the
// whole stability window. An error counts as "not yet" (retried until the deadline).
type Verifier interface {
	Verify(ctx context.Context, d *fleetv1.DirectivePayload) (fixed bool, detail string, err error)
}

// VerifierFunc adapts a function to Verifier.
type VerifierFunc func(ctx context.Context, d *fleetv1.DirectivePayload) (bool, string, error)

// Verify calls f.
func (f VerifierFunc) Verify(ctx context.Context, d *fleetv1.DirectivePayload) (bool, string, error) {
	return f(ctx, d)
}

// Options configure an Engine. Namespace is required; the rest have defaults.
type Options struct {
	// Namespace holds the ledger's ConfigMaps: the agent's own namespace.
	Namespace string
	// Verifier, when set, must also report the problem fixed before an action succeeds.
	Verifier Verifier
	// MaxReplicas bounds ScaleWorkload and PatchHPA; default 100.
	MaxReplicas int64
	// PollInterval is how often verification probes; default 1s.
	PollInterval time.Duration
	// Lease: an in-progress entry whose owner has not written for this long belongs to an agent
	// that stopped, and may be taken over; default 30s. The owner writes every Lease/3.
	Lease time.Duration
	// Retention keeps a final entry this long after its directive expired; default 1h.
	Retention time.Duration
	// MaxEntries bounds the ledger; beyond it the final entries due soonest are dropped; default 1000.
	MaxEntries int
	// Clock is the time source; default time.Now.
	Clock func() time.Time
	// Log receives one line per phase; default discard.
	Log logr.Logger
}

// Engine executes verified directives, once per action id.
type Engine struct {
	c         client.Client
	opts      Options
	env       *env
	ledger    *ledger
	executors map[aiopsv1alpha1.ActionType]executor
}

// New returns an Engine that acts through c. c must read from the apiserver, not from an
// informer cache (client.New, not a manager's cached client): the engine checks
// resourceVersions and reads its own writes back.
func New(c client.Client, opts Options) (*Engine, error) {
	if c == nil {
		return nil, errors.New("execute: a client is required")
	}
	if errs := validation.IsDNS1123Label(opts.Namespace); len(errs) > 0 {
		return nil, fmt.Errorf("execute: ledger namespace %q: %v", opts.Namespace, errs)
	}
	if opts.MaxReplicas <= 0 {
		opts.MaxReplicas = 100
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.Lease <= 0 {
		opts.Lease = 30 * time.Second
	}
	if opts.Retention <= 0 {
		opts.Retention = time.Hour
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 1000
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("execute: engine id: %w", err)
	}
	return &Engine{
		c:    c,
		opts: opts,
		env:  &env{c: c, fieldManager: FieldManager, maxReplicas: opts.MaxReplicas, now: opts.Clock},
		ledger: &ledger{c: c, namespace: opts.Namespace, owner: hex.EncodeToString(id),
			lease: opts.Lease, now: opts.Clock},
		executors: map[aiopsv1alpha1.ActionType]executor{
			aiopsv1alpha1.ActionRestartWorkload:  restartExecutor{},
			aiopsv1alpha1.ActionRollbackWorkload: rollbackExecutor{},
			aiopsv1alpha1.ActionScaleWorkload:    scaleExecutor{},
			aiopsv1alpha1.ActionSetResources:     resourcesExecutor{},
			aiopsv1alpha1.ActionDeletePod:        deletePodExecutor{},
			aiopsv1alpha1.ActionApplyManifests:   applyExecutor{},
			aiopsv1alpha1.ActionPatchHPA:         hpaExecutor{},
		},
	}, nil
}

// Execute carries out d once: it reports each phase it reaches through report (which may be
// nil) and returns the final status. A directive whose action id the ledger already knows is not
// acted on again: Execute returns the recorded final status, or, while another execution is
// under way, its last phase with reason InProgress. The guard has checked signature, audience,
// replay and local policy before; Execute checks expiry again, since time passes.
func (e *Engine) Execute(ctx context.Context, d *fleetv1.DirectivePayload, report func(*fleetv1.ActionStatus)) *fleetv1.ActionStatus {
	if report == nil {
		report = func(*fleetv1.ActionStatus) {}
	}
	log := e.opts.Log.WithValues("action", d.GetActionId(), "plan", d.GetPlanId(), "type", d.GetActionType(),
		"traceparent", d.GetTraceContext().GetTraceparent())
	now := e.opts.Clock()
	if d.GetActionId() == "" {
		return newStatus("", fleetv1.ActionPhase_ACTION_PHASE_FAILED, ReasonInvalidDirective, "directive has no action id", now)
	}
	x := &execution{e: e, d: d, log: log, report: report}

	// The entry outlives the directive: once it has expired the guard refuses redeliveries anyway.
	expires := now
	if d.GetExpiresAt() != nil && d.GetExpiresAt().AsTime().After(now) {
		expires = d.GetExpiresAt().AsTime()
	}
	rec, existing, err := e.ledger.claim(ctx, entry{
		ActionID: d.GetActionId(), PlanID: d.GetPlanId(), ActionType: d.GetActionType(),
		ExpiresAt: expires, DropAfter: expires.Add(e.opts.Retention),
		Owner: e.ledger.owner, Heartbeat: now,
	})
	if err != nil {
		log.Error(err, "ledger unavailable")
		return newStatus(d.GetActionId(), fleetv1.ActionPhase_ACTION_PHASE_FAILED, ReasonLedgerUnavailable,
			fmt.Sprintf("the idempotency ledger could not be written, nothing was done: %v", err), now)
	}
	if existing != nil {
		return x.duplicate(ctx, existing)
	}
	x.rec = rec
	return x.run(ctx)
}

// execution is one Execute call that owns its ledger entry.
type execution struct {
	e      *Engine
	d      *fleetv1.DirectivePayload
	log    logr.Logger
	report func(*fleetv1.ActionStatus)
	rec    *record
	ch     *change
}

// duplicate answers a directive whose action the ledger knows.
func (x *execution) duplicate(ctx context.Context, r *record) *fleetv1.ActionStatus {
	if r.e.Final {
		x.log.Info("duplicate directive: returning the recorded result")
		return r.e.status()
	}
	if !r.stale() {
		st := r.e.status()
		st.ActionId, st.Reason = x.d.GetActionId(), ReasonInProgress
		st.Message = fmt.Sprintf("action is being executed (by engine %s); this delivery does nothing", r.e.Owner)
		st.BeforeJson, st.AfterJson = nil, nil
		return st
	}
	// The owner stopped mid-execution. Whoever wins the takeover finishes the action.
	if err := r.takeOver(ctx); err != nil {
		st := r.e.status()
		st.ActionId, st.Reason = x.d.GetActionId(), ReasonInProgress
		st.Message = "another agent is taking over the interrupted action"
		return st
	}
	x.rec = r
	if !r.e.applyStarted() {
		// Nothing was applied: the action can run from the start, preconditions checked afresh.
		x.log.Info("taking over an interrupted action that had not applied anything")
		return x.run(ctx)
	}
	return x.recoverInterrupted(ctx)
}

// recoverInterrupted restores the saved state of an action whose agent stopped while applying
// or verifying: its change was never verified.
func (x *execution) recoverInterrupted(ctx context.Context) *fleetv1.ActionStatus {
	saved := x.rec.e.Saved
	prev := x.rec.e.status()
	x.log.Info("restoring the saved state of an interrupted action", "phase", prev.GetPhase().String())
	after, err := restore(ctx, x.e.c, FieldManager, saved)
	st := x.status(fleetv1.ActionPhase_ACTION_PHASE_ROLLED_BACK, ReasonInterrupted,
		fmt.Sprintf("the agent executing the action stopped in phase %s; the saved previous state was restored", prev.GetPhase()))
	st.BeforeJson = prev.GetBeforeJson()
	st.AfterJson = objectJSON(x.collapse(after))
	if err != nil {
		st.Phase, st.Reason = fleetv1.ActionPhase_ACTION_PHASE_FAILED, ReasonRollbackFailed
		st.Message = fmt.Sprintf("the agent executing the action stopped in phase %s and restoring the saved state failed: %v", prev.GetPhase(), err)
	}
	return x.finish(ctx, st)
}

func (x *execution) run(ctx context.Context) *fleetv1.ActionStatus {
	// Heartbeats keep the entry ours while the action runs; losing it stops the action.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := x.heartbeat(ctx, cancel)
	defer stop()

	ex, ok := x.e.executors[aiopsv1alpha1.ActionType(x.d.GetActionType())]
	if !ok {
		return x.failed(ctx, fail(ReasonUnsupportedAction, "action type %q is not one of %v", x.d.GetActionType(), aiopsv1alpha1.AllActionTypes))
	}
	if x.d.GetTarget() == nil {
		return x.failed(ctx, fail(ReasonInvalidDirective, "directive has no target"))
	}
	if err := x.checkExpiry(); err != nil {
		return x.failed(ctx, err)
	}
	ch, err := ex.prepare(ctx, x.e.env, x.d)
	if err != nil {
		return x.failed(ctx, err)
	}
	x.ch = ch

	// Server-side dry-run: the apiserver runs admission and validation, nothing is stored.
	dry, err := ch.dryRun(ctx)
	if err != nil {
		return x.failed(ctx, failWrap(ReasonDryRunFailed, fmt.Errorf("server-side dry-run: %w", err)))
	}
	if x.d.GetDryRun() {
		st := x.status(fleetv1.ActionPhase_ACTION_PHASE_DRY_RUN, ReasonDryRunSucceeded, "dry-run only: the server accepted the change; nothing was changed")
		st.AfterJson = objectJSON(dry)
		return x.finish(ctx, st)
	}
	if err := x.checkExpiry(); err != nil {
		return x.failed(ctx, err)
	}

	// The saved state is in the ledger before anything changes, so an agent that finds this
	// action interrupted can put it back.
	applying := x.status(fleetv1.ActionPhase_ACTION_PHASE_APPLYING, ReasonApplying, "previous state saved; applying")
	if err := x.rec.setStatus(ctx, applying, false, ch.saved); err != nil {
		return x.failed(ctx, failWrap(reasonOf(err, ReasonLedgerUnavailable), fmt.Errorf("record the previous state: %w", err)))
	}
	x.report(applying)
	applied, err := ch.apply(ctx)
	if err != nil {
		if errors.Is(err, errPartiallyApplied) {
			return x.rollBack(ctx, ReasonApplyFailed, fmt.Sprintf("apply failed part-way: %v", err))
		}
		return x.failed(ctx, failWrap(ReasonApplyFailed, err))
	}

	verifying := x.status(fleetv1.ActionPhase_ACTION_PHASE_VERIFYING, ReasonVerifying,
		fmt.Sprintf("applied; verifying for up to %s (healthy for %s)", ch.timeout, ch.stable))
	verifying.AfterJson = objectJSON(applied)
	if err := x.rec.setStatus(ctx, verifying, false, nil); err != nil {
		x.log.Error(err, "record VERIFYING") // the entry still holds APPLYING and the saved state
		if errors.Is(err, errLostOwnership) {
			return verifying
		}
	}
	x.report(verifying)
	detail, err := x.verify(ctx)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			// Stopped from outside (agent shutting down or entry taken over): the entry stays in
			// progress and whoever finds it after the lease restores the saved state.
			st := x.status(fleetv1.ActionPhase_ACTION_PHASE_FAILED, ReasonInterrupted, fmt.Sprintf("verification interrupted: %v", cause))
			return st
		}
		if !restorable(ch.saved) {
			return x.failed(ctx, failWrap(ReasonVerificationFailed, fmt.Errorf("%w; the change cannot be undone", err)))
		}
		return x.rollBack(ctx, ReasonVerificationFailed, err.Error())
	}
	st := x.status(fleetv1.ActionPhase_ACTION_PHASE_SUCCEEDED, ReasonVerified, detail)
	st.AfterJson = objectJSON(x.current(ctx))
	return x.finish(ctx, st)
}

// rollBack restores the saved state after a failed apply or verification.
func (x *execution) rollBack(ctx context.Context, reason, why string) *fleetv1.ActionStatus {
	after, err := restore(ctx, x.e.c, FieldManager, x.ch.saved)
	if err != nil {
		st := x.status(fleetv1.ActionPhase_ACTION_PHASE_FAILED, ReasonRollbackFailed,
			fmt.Sprintf("%s; restoring the previous state failed: %v", why, err))
		st.AfterJson = objectJSON(x.current(ctx))
		return x.finish(ctx, st)
	}
	st := x.status(fleetv1.ActionPhase_ACTION_PHASE_ROLLED_BACK, reason, why+"; the previous state was restored")
	st.AfterJson = objectJSON(x.collapse(after))
	return x.finish(ctx, st)
}

// failed ends the action with nothing changed (or nothing that can be undone).
func (x *execution) failed(ctx context.Context, err error) *fleetv1.ActionStatus {
	st := x.status(fleetv1.ActionPhase_ACTION_PHASE_FAILED, reasonOf(err, ReasonApplyFailed), err.Error())
	return x.finish(ctx, st)
}

// finish records the final status and reports it. The final write is retried: an entry left in
// progress would, after the lease, be treated as interrupted and restored.
func (x *execution) finish(ctx context.Context, st *fleetv1.ActionStatus) *fleetv1.ActionStatus {
	if x.rec != nil {
		wctx := context.WithoutCancel(ctx)
		var err error
		for attempt := range 5 {
			if err = x.rec.setStatus(wctx, st, true, nil); err == nil || errors.Is(err, errLostOwnership) {
				break
			}
			time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
		}
		if err != nil {
			x.log.Error(err, "record final status", "phase", st.GetPhase().String())
		}
	}
	x.log.Info("action finished", "phase", st.GetPhase().String(), "reason", st.GetReason(), "message", st.GetMessage())
	x.report(st)
	return st
}

func (x *execution) status(phase fleetv1.ActionPhase, reason, msg string) *fleetv1.ActionStatus {
	st := newStatus(x.d.GetActionId(), phase, reason, msg, x.e.opts.Clock())
	if x.ch != nil {
		st.BeforeJson = objectJSON(x.ch.before)
	}
	return st
}

func (x *execution) checkExpiry() error {
	if exp := x.d.GetExpiresAt(); exp != nil && !x.e.opts.Clock().Before(exp.AsTime()) {
		return fail(ReasonExpired, "directive expired at %s", exp.AsTime().UTC().Format(time.RFC3339))
	}
	return nil
}

// heartbeat renews the entry every Lease/3 until stopped; when another agent took the entry
// over it cancels the execution.
func (x *execution) heartbeat(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(x.e.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := x.rec.update(ctx, func(*entry) {}); errors.Is(err, errLostOwnership) {
					cancel(err)
					return
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// current reads every object the action touched as it is now (nil where it does not exist).
func (x *execution) current(ctx context.Context) any {
	out := make([]any, len(x.ch.saved))
	for i, s := range x.ch.saved {
		u := s.empty()
		if err := x.e.c.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Name}, u); err != nil {
			if !apierrors.IsNotFound(err) {
				out[i] = map[string]string{"error": err.Error()}
			}
			continue
		}
		out[i] = u
	}
	return x.collapse(out)
}

// collapse reports a single-target action's object on its own; ApplyManifests reports a list
// in the order of the manifests.
func (x *execution) collapse(objs []any) any {
	if aiopsv1alpha1.ActionType(x.d.GetActionType()) == aiopsv1alpha1.ActionApplyManifests || len(objs) != 1 {
		return objs
	}
	return objs[0]
}

func restorable(saved []savedObject) bool {
	for _, s := range saved {
		if !s.Restorable {
			return false
		}
	}
	return true
}

func cloneStatus(st *fleetv1.ActionStatus) *fleetv1.ActionStatus {
	return proto.Clone(st).(*fleetv1.ActionStatus)
}

// Maintain does the ledger's upkeep once: it finishes actions whose agent stopped mid-execution
// (entries in progress whose owner has not written for a lease) — restoring the saved state when
// the action had started applying, else recording it FAILED/Interrupted with nothing changed —
// and reports their final status; then it drops entries past their retention.
func (e *Engine) Maintain(ctx context.Context, report func(*fleetv1.ActionStatus)) error {
	if report == nil {
		report = func(*fleetv1.ActionStatus) {}
	}
	list, err := e.ledger.list(ctx)
	if err != nil {
		return err
	}
	for _, r := range list {
		if r.e.Final || !r.stale() || r.takeOver(ctx) != nil {
			continue
		}
		d := &fleetv1.DirectivePayload{ActionId: r.e.ActionID, ActionType: r.e.ActionType, PlanId: r.e.PlanID}
		x := &execution{e: e, d: d, rec: r, report: report,
			log: e.opts.Log.WithValues("action", d.GetActionId(), "plan", d.GetPlanId(), "type", d.GetActionType())}
		if r.e.applyStarted() {
			x.recoverInterrupted(ctx)
			continue
		}
		x.finish(ctx, x.status(fleetv1.ActionPhase_ACTION_PHASE_FAILED, ReasonInterrupted,
			"the agent executing the action stopped before applying anything; nothing was changed"))
	}
	if _, err := e.ledger.collect(ctx, e.opts.MaxEntries); err != nil {
		return err
	}
	return nil
}

// Run calls Maintain every interval until ctx is done; errors are logged and retried.
func (e *Engine) Run(ctx context.Context, every time.Duration, report func(*fleetv1.ActionStatus)) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := e.Maintain(ctx, report); err != nil && ctx.Err() == nil {
			e.opts.Log.Error(err, "ledger upkeep")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
