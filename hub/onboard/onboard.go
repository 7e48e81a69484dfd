package onboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/anonymize"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/jules"
	"github.com/kubedevaiops/kubedevaiops/hub/julesplan"
	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
)

// Annotations linking an onboarding Plan to what it is about, besides julesplan's.
const (
	// AnnotationApplication names the ManagedApplication, "namespace/name".
	AnnotationApplication = hubv1alpha1.Group + "/application"
	// AnnotationPatch is the SHA-256 of the patch whose manifests the plan dry-runs.
	AnnotationPatch = hubv1alpha1.Group + "/jules-patch-sha256"
)

// CondOnboarded is the ManagedApplication condition saying where its onboarding stands.
const CondOnboarded = "Onboarded"

// Plans dispatches approved plans and names a cluster's governing policy (hub/incident).
type Plans interface {
	// Dispatch signs and records the directives of an approved plan; it returns why the plan
	// has to wait, "" once dispatched.
	Dispatch(ctx context.Context, p *hubv1alpha1.Plan, rv uint64) (string, error)
	// GoverningPolicy returns the AIOpsPolicy that governs a cluster, nil when none does.
	GoverningPolicy(cluster string) (*aiopsv1alpha1.AIOpsPolicy, error)
	// ExternalAIForbidden names what forbids external AI providers for the clusters, or "".
	ExternalAIForbidden(clusters []string) string
}

// Config wires an Onboarder.
type Config struct {
	Node  *raftnode.Node
	Store *store.Store
	// Tracker follows the Jules sessions; New makes the Onboarder the handler of its
	// onboarding sessions.
	Tracker *jules.Tracker
	// Plans dispatches the dry-run of an onboarding plan.
	Plans Plans
	// Tracer records the onboarding spans; nil records none.
	Tracer trace.TracerProvider
	Logger *slog.Logger
	// Resync is how often the loop looks again without a change; 10s when 0.
	Resync time.Duration
	// RetryAfter is how long an application whose session could not be started waits before
	// the next attempt (a spec change retries at once); 10 minutes when 0.
	RetryAfter time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Onboarder onboards ManagedApplications through Jules. Run and the tracker's Run are leader
// loops; everything they decide is in the replicated state, so a new leader carries on.
type Onboarder struct {
	node    *raftnode.Node
	store   *store.Store
	plans   Plans
	review  julesplan.Plans
	tracker *jules.Tracker
	tracer  trace.Tracer
	log     *slog.Logger
	resync  time.Duration
	retry   time.Duration
	now     func() time.Time

	mu sync.Mutex
	// retryAt holds back, on this leader, new attempts for applications whose start failed.
	retryAt map[string]time.Time
}

// New returns an Onboarder, which handles the tracker's onboarding sessions.
func New(cfg Config) (*Onboarder, error) {
	if cfg.Node == nil || cfg.Store == nil || cfg.Plans == nil || cfg.Tracker == nil {
		return nil, errors.New("onboard: Node, Store, Plans and Tracker are required")
	}
	o := &Onboarder{node: cfg.Node, store: cfg.Store, plans: cfg.Plans, log: cfg.Logger, resync: cfg.Resync, retry: cfg.RetryAfter,
		now: cfg.Now, retryAt: map[string]time.Time{}}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	o.log = o.log.With("component", "onboard")
	tp := cfg.Tracer
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	o.tracer = tp.Tracer("github.com/kubedevaiops/kubedevaiops/hub/onboard")
	if o.resync <= 0 {
		o.resync = 10 * time.Second
	}
	if o.retry <= 0 {
		o.retry = 10 * time.Minute
	}
	if o.now == nil {
		o.now = time.Now
	}
	o.tracker = cfg.Tracker
	o.review = julesplan.Plans{Node: o.node, Store: o.store, Tracker: o.tracker, Policies: o.plans, Actor: "hub/onboard", Tracer: o.tracer, Logger: o.log, Now: o.now}
	o.tracker.Handle(hubv1alpha1.JulesOnboarding, jules.Hooks{PlanReady: o.planReady, Finished: o.finished})
	return o, nil
}

// Run is the leader's loop until ctx ends: it starts sessions for applications not onboarded
// yet, tells Jules about approved plans, dispatches the dry-runs and keeps the applications'
// Onboarded condition up to date.
func (o *Onboarder) Run(ctx context.Context) {
	o.log.Info("onboarding applications through jules")
	kinds := []string{store.KindManagedApplication, store.KindPlan, store.KindAction, hubv1alpha1.KindJulesSession}
	o.store.RunReconciler(ctx, kinds, o.resync, o.Reconcile, func(err error) { o.log.Warn("onboarding pass incomplete; retrying", "err", err) })
}

// state is what one pass read.
type state struct {
	sessions map[string]*hubv1alpha1.JulesSession // application ref -> its latest onboarding session
	byName   map[string]*hubv1alpha1.JulesSession
	plans    map[string]store.Decoded[hubv1alpha1.Plan]
	actions  map[string][]*hubv1alpha1.Action // plan -> actions
}

func (o *Onboarder) read() (*state, error) {
	st := &state{sessions: map[string]*hubv1alpha1.JulesSession{}, byName: map[string]*hubv1alpha1.JulesSession{},
		plans: map[string]store.Decoded[hubv1alpha1.Plan]{}, actions: map[string][]*hubv1alpha1.Action{}}
	sessions, err := store.ListAs[hubv1alpha1.JulesSession](o.store, hubv1alpha1.KindJulesSession)
	if err != nil {
		return nil, err
	}
	sort.Slice(sessions, func(i, j int) bool {
		return sessions[i].Obj.CreationTimestamp.Before(&sessions[j].Obj.CreationTimestamp)
	})
	for _, s := range sessions {
		if s.Obj.Spec.Purpose != hubv1alpha1.JulesOnboarding {
			continue
		}
		st.byName[s.Obj.Name] = s.Obj
		if ref := s.Obj.Spec.ApplicationRef; ref != "" {
			st.sessions[ref] = s.Obj // the latest wins
		}
	}
	plans, err := store.ListAs[hubv1alpha1.Plan](o.store, store.KindPlan)
	if err != nil {
		return nil, err
	}
	for _, p := range plans {
		if p.Obj.Spec.Type == hubv1alpha1.PlanOnboarding {
			st.plans[p.Obj.Name] = p
		}
	}
	actions, err := store.ListAs[hubv1alpha1.Action](o.store, store.KindAction)
	if err != nil {
		return nil, err
	}
	for _, a := range actions {
		if _, ok := st.plans[a.Obj.Spec.PlanRef]; ok {
			st.actions[a.Obj.Spec.PlanRef] = append(st.actions[a.Obj.Spec.PlanRef], a.Obj)
		}
	}
	return st, nil
}

// Reconcile makes one pass; Run calls it on every change.
func (o *Onboarder) Reconcile(ctx context.Context) error {
	st, err := o.read()
	if err != nil {
		return err
	}
	var errs []error
	names := make([]string, 0, len(st.plans))
	for n := range st.plans {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := st.plans[n]
		if err := o.advance(ctx, p.Obj, p.RV, st.byName[p.Obj.Annotations[julesplan.AnnotationSession]]); err != nil && !errors.Is(err, store.ErrConflict) {
			errs = append(errs, fmt.Errorf("onboarding plan %s: %w", n, err))
		}
	}
	apps, err := store.ListAs[aiopsv1alpha1.ManagedApplication](o.store, store.KindManagedApplication)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, a := range apps {
		if a.Obj.Spec.Source.Git == nil {
			continue
		}
		ref := a.Obj.Namespace + "/" + a.Obj.Name
		js := st.sessions[ref]
		var startErr error
		if js == nil && a.Obj.Spec.Cluster != "" && o.due(ref, a.Obj) {
			js, startErr = o.start(ctx, a.Obj)
		}
		if err := o.writeStatus(ctx, a.Obj, a.RV, js, st, startErr); err != nil && !errors.Is(err, store.ErrConflict) {
			errs = append(errs, fmt.Errorf("status of application %s: %w", ref, err))
		}
	}
	return errors.Join(errs...)
}

// due says whether an application without a session may be started now: not when its last
// start failed on this spec generation, until RetryAfter passed.
func (o *Onboarder) due(ref string, app *aiopsv1alpha1.ManagedApplication) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := onboardedCondition(app)
	failed := c != nil && (c.Reason == ReasonStartFailed || c.Reason == ReasonBudgetExhausted) && c.ObservedGeneration == app.Generation
	if !failed {
		delete(o.retryAt, ref)
		return true
	}
	at, ok := o.retryAt[ref]
	if !ok {
		// A new leader: the condition's time says when the last attempt was.
		at = c.LastTransitionTime.Add(o.retry)
		o.retryAt[ref] = at
	}
	return !o.now().Before(at)
}

// start asks Jules for an onboarding session of app, in a new trace.
func (o *Onboarder) start(ctx context.Context, app *aiopsv1alpha1.ManagedApplication) (*hubv1alpha1.JulesSession, error) {
	ref := app.Namespace + "/" + app.Name
	ctx, span := o.tracer.Start(context.WithoutCancel(ctx), "onboard.start", trace.WithNewRoot(),
		trace.WithAttributes(attribute.String("kubedevaiops.application", ref), attribute.String("kubedevaiops.cluster", app.Spec.Cluster)))
	defer span.End()
	if app.Spec.Cluster != "" {
		// Jules is an external provider: a policy that keeps the cluster's data in the hub wins.
		if by := o.plans.ExternalAIForbidden([]string{app.Spec.Cluster}); by != "" {
			o.mu.Lock()
			o.retryAt[ref] = o.now().Add(o.retry)
			o.mu.Unlock()
			return nil, fmt.Errorf("onboarding %s through Jules is forbidden by %s", ref, by)
		}
	}
	g := app.Spec.Source.Git
	in, placeholders := anonymisedInput(app)
	js, err := o.tracker.StartOnboarding(ctx, jules.OnboardingRequest{
		ApplicationRef: ref, RepoURL: g.URL, Branch: jules.StartingBranch(g.Revision),
		Input: in, Placeholders: placeholders, RequestedBy: "hub/onboard",
	})
	if js != nil && js.Name != "" {
		span.SetAttributes(attribute.String("jules.record", js.Name))
	}
	if err != nil && (js == nil || js.Name == "") {
		o.mu.Lock()
		o.retryAt[ref] = o.now().Add(o.retry)
		o.mu.Unlock()
		o.log.Warn("could not start the onboarding session", "application", ref, "err", err, "trace_id", span.SpanContext().TraceID().String())
		return nil, err
	}
	// With a record the session exists or is adopted by the tracker once it is found.
	o.log.Info("onboarding session started", "application", ref, "jules_record", js.Name, "trace_id", span.SpanContext().TraceID().String())
	return js, nil
}

// anonymisedInput describes app to Jules without its name, namespace or cluster: they become
// placeholders, which the tracker restores in what Jules answers. The repository itself is
// what Jules works on, so its URL is not replaced.
func anonymisedInput(app *aiopsv1alpha1.ManagedApplication) (jules.OnboardingInput, map[string]string) {
	a := anonymize.NewSession(anonymize.Known{Workloads: []string{app.Name}, Namespaces: []string{app.Namespace}, Clusters: []string{app.Spec.Cluster}})
	in := jules.OnboardingInputFor(app, a.Anonymize(app.Name))
	in.Path = a.Anonymize(in.Path)
	ports := make([]aiopsv1alpha1.ApplicationPort, len(in.Ports))
	for i, p := range in.Ports {
		p.Name = a.Anonymize(p.Name)
		ports[i] = p
	}
	in.Ports = ports
	return in, a.Placeholders()
}
