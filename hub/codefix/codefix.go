package codefix

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/anonymize"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/jules"
	"github.com/kubedevaiops/kubedevaiops/hub/diagnose"
	"github.com/kubedevaiops/kubedevaiops/hub/julesplan"
	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/telemetry"
)

// Annotations linking a code-fix Plan to what it is about. The plan does not set
// Spec.IncidentRef: it does not remediate the incident (the incident loop's own plan does), so
// it neither holds back the loop's proposals nor ends when the incident resolves.
// The plan also carries julesplan's annotations.
const (
	AnnotationApplication = hubv1alpha1.Group + "/application"
	AnnotationIncident    = hubv1alpha1.Group + "/incident"
)

// requester is the actor that asks Jules for the fixes.
const requester = "hub/codefix"

// maxDiagnosis bounds the diagnosis text of a prompt.
const maxDiagnosis = 16 << 10

// Policies names what governs a cluster (hub/incident).
type Policies interface {
	julesplan.Policies
	// ExternalAIForbidden names what forbids external AI providers for the clusters, or "".
	ExternalAIForbidden(clusters []string) string
}

// Config wires a Fixer.
type Config struct {
	Node    *raftnode.Node
	Store   *store.Store
	Tracker *jules.Tracker
	// Policies say how many approvals a plan needs and whether a cluster's data may go to Jules.
	Policies Policies
	// Tracer records the code-fix spans; nil records none.
	Tracer trace.TracerProvider
	Logger *slog.Logger
	// Resync is how often the loop looks again without a change; 10s when 0.
	Resync time.Duration
	// RetryAfter is how long an incident whose session could not be started waits before the
	// next attempt; 10 minutes when 0.
	RetryAfter time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Fixer is the leader loop of code-fix proposals. What it decides is in the replicated state
// (the JulesSession records and the plans), so a new leader carries on.
type Fixer struct {
	node     *raftnode.Node
	store    *store.Store
	tracker  *jules.Tracker
	policies Policies
	plans    julesplan.Plans
	tracer   trace.Tracer
	log      *slog.Logger
	resync   time.Duration
	retry    time.Duration
	now      func() time.Time

	mu sync.Mutex
	// retryAt holds back, on this leader, new attempts for keys whose start failed.
	retryAt map[string]time.Time
}

// New returns a Fixer, which handles the tracker's code-fix sessions.
func New(cfg Config) (*Fixer, error) {
	if cfg.Node == nil || cfg.Store == nil || cfg.Tracker == nil || cfg.Policies == nil {
		return nil, errors.New("codefix: Node, Store, Tracker and Policies are required")
	}
	f := &Fixer{node: cfg.Node, store: cfg.Store, tracker: cfg.Tracker, policies: cfg.Policies, log: cfg.Logger,
		resync: cfg.Resync, retry: cfg.RetryAfter, now: cfg.Now, retryAt: map[string]time.Time{}}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.log = f.log.With("component", "codefix")
	tp := cfg.Tracer
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	f.tracer = tp.Tracer("github.com/kubedevaiops/kubedevaiops/hub/codefix")
	if f.resync <= 0 {
		f.resync = 10 * time.Second
	}
	if f.retry <= 0 {
		f.retry = 10 * time.Minute
	}
	if f.now == nil {
		f.now = time.Now
	}
	f.plans = julesplan.Plans{Node: f.node, Store: f.store, Tracker: f.tracker, Policies: f.policies, Actor: requester, Tracer: f.tracer, Logger: f.log, Now: f.now}
	f.tracker.Handle(hubv1alpha1.JulesCodeFix, jules.Hooks{PlanReady: f.planReady, Finished: f.finished})
	return f, nil
}

// Run is the leader's loop until ctx ends.
func (f *Fixer) Run(ctx context.Context) {
	f.log.Info("proposing code fixes through jules for incidents rooted in the application")
	kinds := []string{store.KindIncident, store.KindManagedApplication, store.KindPlan, hubv1alpha1.KindJulesSession}
	f.store.RunReconciler(ctx, kinds, f.resync, f.Reconcile, func(err error) { f.log.Warn("code-fix pass incomplete; retrying", "err", err) })
}

// Reconcile makes one pass: it moves the code-fix plans on and asks Jules for the fixes not
// asked for yet.
func (f *Fixer) Reconcile(ctx context.Context) error {
	sessions, err := store.ListAs[hubv1alpha1.JulesSession](f.store, hubv1alpha1.KindJulesSession)
	if err != nil {
		return err
	}
	incidents, err := store.ListAs[hubv1alpha1.Incident](f.store, store.KindIncident)
	if err != nil {
		return err
	}
	byIncident := map[string]*hubv1alpha1.Incident{}
	for _, inc := range incidents {
		byIncident[inc.Obj.Name] = inc.Obj
	}
	byName := map[string]*hubv1alpha1.JulesSession{}
	asked := map[string]bool{}       // fixKey -> a session was made for it
	activeFor := map[string]string{} // application -> its unfinished code-fix session
	for _, s := range sessions {
		js := s.Obj
		if js.Spec.Purpose != hubv1alpha1.JulesCodeFix {
			continue
		}
		byName[js.Name] = js
		if inc := byIncident[js.Spec.IncidentRef]; inc != nil {
			asked[fixKey(js.Spec.ApplicationRef, inc)] = true
		}
		asked[js.Spec.ApplicationRef+"|"+js.Spec.IncidentRef] = true
		if js.Status.Phase == hubv1alpha1.JulesPending || js.Status.Phase == hubv1alpha1.JulesActive {
			activeFor[js.Spec.ApplicationRef] = js.Name
		}
	}

	var errs []error
	plans, err := store.ListAs[hubv1alpha1.Plan](f.store, store.KindPlan)
	if err != nil {
		return err
	}
	for _, p := range plans {
		if p.Obj.Spec.Type != hubv1alpha1.PlanCodeFix {
			continue
		}
		if err := f.advance(ctx, p.Obj, p.RV, byName[p.Obj.Annotations[julesplan.AnnotationSession]]); err != nil && !errors.Is(err, store.ErrConflict) {
			errs = append(errs, fmt.Errorf("code-fix plan %s: %w", p.Obj.Name, err))
		}
	}

	apps, err := store.ListAs[aiopsv1alpha1.ManagedApplication](f.store, store.KindManagedApplication)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	sort.Slice(incidents, func(i, j int) bool { return incidents[i].Obj.Name < incidents[j].Obj.Name })
	for _, inc := range incidents {
		if !wantsCodeFix(inc.Obj) {
			continue
		}
		app := applicationOf(inc.Obj, apps)
		if app == nil {
			continue
		}
		ref := app.Namespace + "/" + app.Name
		key := fixKey(ref, inc.Obj)
		if asked[key] || asked[ref+"|"+inc.Obj.Name] || activeFor[ref] != "" || !f.due(key) {
			continue
		}
		js, err := f.start(ctx, inc.Obj, app)
		switch {
		case err != nil && js == nil:
			f.holdBack(key)
			errs = append(errs, err)
		case js != nil:
			asked[key], activeFor[ref] = true, js.Name
		default: // forbidden by policy: looked at again after RetryAfter, as the policy may change
			f.holdBack(key)
		}
	}
	return errors.Join(errs...)
}

// wantsCodeFix says whether the diagnosis places an open incident's root cause in the
// application's code.
func wantsCodeFix(inc *hubv1alpha1.Incident) bool {
	return inc.Status.Phase != hubv1alpha1.IncidentResolved && inc.Status.RootCause == string(diagnose.CategoryApplicationError)
}

// fixKey is what one code fix is asked for: an application and the incident's refined
// signature, so several pods, or several clusters, failing the same way ask once.
func fixKey(app string, inc *hubv1alpha1.Incident) string {
	sig := inc.Status.IncidentSignature
	if sig == "" {
		sig = inc.Spec.Signature
	}
	return app + "|" + sig
}

func (f *Fixer) due(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	at, ok := f.retryAt[key]
	return !ok || !f.now().Before(at)
}

func (f *Fixer) holdBack(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retryAt[key] = f.now().Add(f.retry)
}

// Names of a workload's pods after the workload's name: a Deployment's
// "<name>-<template hash>-<5>", a StatefulSet's "<name>-<ordinal>", a DaemonSet's or Job's
// "<name>-<5>"; and a ReplicaSet's "<name>-<template hash>".
var generatedSuffix = regexp.MustCompile(`^([a-z0-9]{6,10}-[a-z0-9]{5}|[0-9]+|[a-z0-9]{5}|[a-z0-9]{6,10})$`)

// applicationOf finds the ManagedApplication with a Git repository whose workload the
// incident is about: same cluster, same namespace, and the object is the application's
// workload or one of its pods.
func applicationOf(inc *hubv1alpha1.Incident, apps []store.Decoded[aiopsv1alpha1.ManagedApplication]) *aiopsv1alpha1.ManagedApplication {
	o := inc.Spec.Object
	for _, a := range apps {
		app := a.Obj
		if app.Spec.Source.Git == nil || app.Spec.Cluster != inc.Spec.Cluster || app.Namespace != o.Namespace {
			continue
		}
		switch o.Kind {
		case "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob":
			if o.Name == app.Name {
				return app
			}
		case "Pod", "ReplicaSet":
			if rest, ok := strings.CutPrefix(o.Name, app.Name+"-"); ok && generatedSuffix.MatchString(rest) {
				return app
			}
		}
	}
	return nil
}

// start asks Jules for a code fix of inc in app's repository, in the incident's trace.
func (f *Fixer) start(ctx context.Context, inc *hubv1alpha1.Incident, app *aiopsv1alpha1.ManagedApplication) (*hubv1alpha1.JulesSession, error) {
	ref := app.Namespace + "/" + app.Name
	ctx, span := f.tracer.Start(telemetry.WithTraceparent(context.WithoutCancel(ctx), inc.Spec.TraceParent), "codefix.start", trace.WithAttributes(
		attribute.String("kubedevaiops.incident", inc.Name), attribute.String("kubedevaiops.application", ref),
		attribute.String("kubedevaiops.cluster", inc.Spec.Cluster)))
	defer span.End()
	log := f.log.With("incident", inc.Name, "application", ref, "trace_id", span.SpanContext().TraceID().String())
	// Jules is an external provider: a policy that keeps the cluster's data in the hub wins.
	if by := f.policies.ExternalAIForbidden([]string{inc.Spec.Cluster}); by != "" {
		log.Info("no code fix asked of jules: external AI is forbidden", "by", by)
		span.SetAttributes(attribute.String("kubedevaiops.skipped", "external AI forbidden by "+by))
		return nil, nil
	}
	in, placeholders := codeFixInput(inc, app, f.planRationale(inc))
	g := app.Spec.Source.Git
	js, err := f.tracker.StartCodeFix(ctx, jules.CodeFixRequest{
		IncidentRef: inc.Name, ApplicationRef: ref, RepoURL: g.URL, Branch: jules.StartingBranch(g.Revision), Input: in, Placeholders: placeholders,
		AutoCreatePR: true, RequestedBy: requester,
	})
	if js != nil && js.Name != "" {
		span.SetAttributes(attribute.String("jules.record", js.Name))
	}
	if err != nil && (js == nil || js.Name == "") {
		log.Warn("could not ask jules for a code fix", "err", err)
		return nil, fmt.Errorf("code fix for incident %s of %s: %w", inc.Name, ref, err)
	}
	log.Info("code fix asked of jules", "jules_record", js.Name)
	return js, nil
}

// planRationale is the rationale of the incident loop's plan for inc (its hypothesis), "" when
// there is none.
func (f *Fixer) planRationale(inc *hubv1alpha1.Incident) string {
	if inc.Status.PlanRef == "" {
		return inc.Status.Message
	}
	res, err := f.store.Get(store.KindPlan, "", inc.Status.PlanRef)
	if err != nil {
		return inc.Status.Message
	}
	var p hubv1alpha1.Plan
	if err := res.Decode(&p); err != nil {
		return inc.Status.Message
	}
	return p.Spec.Rationale
}

// codeFixInput is the anonymised diagnosis of inc: the cluster, namespace, workload, pod and
// node names become placeholders (restored in what Jules answers); addresses, emails and
// tokens the detectors find do too.
func codeFixInput(inc *hubv1alpha1.Incident, app *aiopsv1alpha1.ManagedApplication, hypothesis string) (jules.CodeFixInput, map[string]string) {
	known := anonymize.Known{
		Clusters: []string{inc.Spec.Cluster}, Namespaces: []string{inc.Spec.Object.Namespace, app.Namespace},
		Workloads: []string{app.Name, inc.Spec.Object.Name},
	}
	for _, e := range inc.Spec.Evidence {
		if s := e.Source; s != nil {
			if s.Kind == "Node" {
				known.Nodes = append(known.Nodes, s.Name)
			} else {
				known.Workloads = append(known.Workloads, s.Name)
				known.Namespaces = append(known.Namespaces, s.Namespace)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Finding on %s %s: %s\n", inc.Spec.Object.Kind, inc.Spec.Object.Name, inc.Spec.Summary)
	if hypothesis != "" {
		fmt.Fprintf(&b, "Hub diagnosis: %s\n", strings.TrimSpace(hypothesis))
	}
	for _, e := range inc.Spec.Evidence {
		switch e.Type {
		case "log", "event", "status":
			fmt.Fprintf(&b, "\n[%s] %s\n", e.Type, e.Summary)
			if d := strings.TrimSpace(e.Detail); d != "" {
				b.WriteString(d + "\n")
			}
		}
	}
	a := anonymize.NewSession(known)
	diag := a.Anonymize(b.String())
	if len(diag) > maxDiagnosis {
		diag = diag[:maxDiagnosis] + "\n[truncated]"
	}
	return jules.CodeFixInput{Diagnosis: diag, RootCause: inc.Status.RootCause, Signature: inc.Spec.Signature}, a.Placeholders()
}
