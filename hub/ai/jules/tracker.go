package jules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/anonymize"
	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/telemetry"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
)

// Labels of JulesSession records.
const (
	// LabelDay is the UTC day (YYYYMMDD) whose budget a record counts against.
	LabelDay = "hub.kubedevaiops.io/jules-day"
	// LabelPurpose is the record's purpose, e.g. "Onboarding".
	LabelPurpose = "hub.kubedevaiops.io/jules-purpose"
)

// Limits of what a record keeps.
const (
	// MaxPromptSize is the largest prompt the tracker sends.
	MaxPromptSize = 64 << 10
	// MaxStoredPatch is the largest patch a record keeps; a larger one keeps its digest only.
	MaxStoredPatch = 512 << 10
	maxMessage     = 2048
	maxStepText    = 1024
)

// Hooks are how the hub learns what a session needs. They run on the leader, inside Poll, and
// are called again after a failover until what they return is recorded, so they must be
// idempotent. A nil hook is skipped.
type Hooks struct {
	// PlanReady is called while Jules awaits approval of a plan that no KubeDevAIOps Plan is
	// recorded for (Status.PlanRef empty). It makes that Plan, which needs a human's approval,
	// and returns its name; PlanName gives a stable one. Approving it is the lead's to wire:
	// once approved, call Tracker.ApprovePlan with the Jules plan id it showed.
	PlanReady func(ctx context.Context, s *hubv1alpha1.JulesSession) (planRef string, err error)
	// Question is called on every poll while Jules awaits the user's feedback and its question
	// (Status.AgentMessage) is unanswered. A non-empty reply is anonymised as SendMessage does
	// and sent to Jules. Return "" to leave the answer to a person, who sends it with
	// Tracker.SendMessage.
	Question func(ctx context.Context, s *hubv1alpha1.JulesSession) (reply string, err error)
	// Finished is called once the session completed or failed (Status.Patch holds the change,
	// Status.PullRequest the pull request), until it returns nil.
	Finished func(ctx context.Context, s *hubv1alpha1.JulesSession) error
}

// TrackerConfig configures a Tracker.
type TrackerConfig struct {
	Client *Client
	Node   *raftnode.Node
	Store  *store.Store
	// DailyBudget is how many sessions may be created per UTC day, across the hub; 10 when 0.
	DailyBudget int
	// PollInterval is how often Run polls the sessions; 15s when 0.
	PollInterval time.Duration
	// PageSize is the activity page size; 50 when 0.
	PageSize int
	// AdoptAfter is how long a record whose creation's outcome is unknown waits to be found at
	// Jules before it is failed; 10 minutes when 0.
	AdoptAfter time.Duration
	// Now is the clock; time.Now when nil.
	Now    func() time.Time
	Tracer trace.Tracer
	Logger *slog.Logger
}

// Tracker creates Jules sessions within a daily budget and follows them in the hub's replicated
// state: each session is a JulesSession record, written with conditional updates, so the leader
// that polls them (Run) resumes after a failover from where the last one stopped. Safe for
// concurrent use; Start, ApprovePlan and SendMessage work on any member.
type Tracker struct {
	cfg    TrackerConfig
	tracer trace.Tracer
	log    *slog.Logger

	mu        sync.Mutex
	byPurpose map[hubv1alpha1.JulesSessionPurpose]Hooks
}

// Handle makes h the hooks of the sessions of one purpose: the part of the hub that starts
// sessions for a purpose is the one that follows them up. A purpose nobody handles has no hooks.
func (t *Tracker) Handle(purpose hubv1alpha1.JulesSessionPurpose, h Hooks) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byPurpose[purpose] = h
}

func (t *Tracker) hooks(purpose hubv1alpha1.JulesSessionPurpose) Hooks {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byPurpose[purpose]
}

// NewTracker returns a tracker.
func NewTracker(cfg TrackerConfig) (*Tracker, error) {
	if cfg.Client == nil || cfg.Node == nil || cfg.Store == nil {
		return nil, errors.New("jules tracker: Client, Node and Store are required")
	}
	if cfg.DailyBudget <= 0 {
		cfg.DailyBudget = 10
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 15 * time.Second
	}
	if cfg.PageSize <= 0 || cfg.PageSize > 100 {
		cfg.PageSize = 50
	}
	if cfg.AdoptAfter <= 0 {
		cfg.AdoptAfter = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	t := &Tracker{cfg: cfg, tracer: cfg.Tracer, log: cfg.Logger, byPurpose: map[hubv1alpha1.JulesSessionPurpose]Hooks{}}
	if t.tracer == nil {
		t.tracer = noop.NewTracerProvider().Tracer("")
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	return t, nil
}

// StartRequest asks for a session.
type StartRequest struct {
	Purpose hubv1alpha1.JulesSessionPurpose
	// Source is the Jules source, e.g. "sources/github/org/repo" (Client.FindSource).
	Source string
	// StartingBranch is the branch to start from; the source's default when empty.
	StartingBranch string
	// Prompt is the task, already anonymised.
	Prompt string
	// Placeholders map the prompt's placeholders to the names they stand for
	// (anonymize.Session.Placeholders); what Jules answers is recorded with the names restored.
	Placeholders map[string]string
	// Summary is a short description for the session's title.
	Summary string
	// AutoCreatePR asks Jules to open a pull request when done.
	AutoCreatePR bool
	// ApplicationRef ("namespace/name") or IncidentRef names what the session is for.
	ApplicationRef, IncidentRef string
	// RequestedBy is who asks: a person or a hub component.
	RequestedBy string
}

// OnboardingRequest asks Jules to onboard a ManagedApplication's repository.
type OnboardingRequest struct {
	// ApplicationRef names the ManagedApplication, "namespace/name".
	ApplicationRef string
	// RepoURL is the application's source.git.url; Source, when set, is used instead.
	RepoURL, Source string
	// Branch is source.git.revision when it is a branch; the default branch when empty.
	Branch string
	// Input describes the application (OnboardingInputFor).
	Input OnboardingInput
	// Placeholders are those of Input (anonymize.Session.Placeholders).
	Placeholders map[string]string
	AutoCreatePR bool
	RequestedBy  string
}

// CodeFixRequest asks Jules for a code-level fix of an incident.
type CodeFixRequest struct {
	IncidentRef string
	// ApplicationRef names the ManagedApplication whose code is fixed, "namespace/name".
	ApplicationRef string
	// RepoURL or Source names the application's repository, Branch the branch to fix.
	RepoURL, Source, Branch string
	// Input is the anonymised diagnosis.
	Input CodeFixInput
	// Placeholders are those of Input (anonymize.Session.Placeholders).
	Placeholders map[string]string
	AutoCreatePR bool
	RequestedBy  string
}

// StartOnboarding starts an onboarding session (Dockerfile, manifests, CI pipeline).
func (t *Tracker) StartOnboarding(ctx context.Context, req OnboardingRequest) (*hubv1alpha1.JulesSession, error) {
	src, err := t.source(ctx, req.Source, req.RepoURL)
	if err != nil {
		return nil, fmt.Errorf("onboard %s: %w", req.ApplicationRef, err)
	}
	return t.Start(ctx, StartRequest{
		Purpose: hubv1alpha1.JulesOnboarding, Source: src, StartingBranch: req.Branch, Prompt: OnboardingPrompt(req.Input), Placeholders: req.Placeholders,
		Summary: "onboard " + req.Input.Name, AutoCreatePR: req.AutoCreatePR, ApplicationRef: req.ApplicationRef, RequestedBy: req.RequestedBy,
	})
}

// StartCodeFix starts a code-fix session for an incident.
func (t *Tracker) StartCodeFix(ctx context.Context, req CodeFixRequest) (*hubv1alpha1.JulesSession, error) {
	if strings.TrimSpace(req.Input.Diagnosis) == "" {
		return nil, fmt.Errorf("code fix for %s: the diagnosis is empty", req.IncidentRef)
	}
	src, err := t.source(ctx, req.Source, req.RepoURL)
	if err != nil {
		return nil, fmt.Errorf("code fix for %s: %w", req.IncidentRef, err)
	}
	return t.Start(ctx, StartRequest{
		Purpose: hubv1alpha1.JulesCodeFix, Source: src, StartingBranch: req.Branch, Prompt: CodeFixPrompt(req.Input), Placeholders: req.Placeholders,
		Summary: "fix " + req.Input.Signature, AutoCreatePR: req.AutoCreatePR, IncidentRef: req.IncidentRef, ApplicationRef: req.ApplicationRef, RequestedBy: req.RequestedBy,
	})
}

func (t *Tracker) source(ctx context.Context, source, repoURL string) (string, error) {
	if source != "" {
		return source, nil
	}
	if repoURL == "" {
		return "", errors.New("neither a Jules source nor a repository URL was given")
	}
	src, err := t.cfg.Client.FindSource(ctx, repoURL)
	if err != nil {
		return "", err
	}
	return src.Name, nil
}

// Start reserves one of the day's budget slots, creates the session at Jules with plan
// approval required, and records it. ErrBudgetExhausted when the day's slots are taken. When
// Jules refused the session, the slot is freed; when the outcome is unknown (5xx, transport
// failure) the record stays Pending and the leader adopts the session if it exists.
func (t *Tracker) Start(ctx context.Context, req StartRequest) (js *hubv1alpha1.JulesSession, err error) {
	switch {
	case req.Purpose != hubv1alpha1.JulesOnboarding && req.Purpose != hubv1alpha1.JulesCodeFix:
		return nil, fmt.Errorf("jules session: unknown purpose %q", req.Purpose)
	case req.Source == "":
		return nil, errors.New("jules session: the source is required")
	case strings.TrimSpace(req.Prompt) == "":
		return nil, errors.New("jules session: the prompt is empty")
	case len(req.Prompt) > MaxPromptSize:
		return nil, fmt.Errorf("jules session: the prompt is %d bytes, limit %d", len(req.Prompt), MaxPromptSize)
	}
	ctx, span := telemetry.StartGenAI(ctx, t.tracer, telemetry.GenAICall{Operation: telemetry.OperationInvokeAgent, Provider: telemetry.ProviderJules},
		attribute.String("gen_ai.agent.name", "jules"), attribute.String("jules.purpose", string(req.Purpose)))
	span.SetName(telemetry.OperationInvokeAgent + " jules")
	defer func() {
		if err != nil {
			telemetry.SetGenAIError(span, errorType(err), err)
		}
		span.End()
	}()

	js, rv, err := t.reserve(ctx, req, telemetry.Traceparent(ctx))
	if err != nil {
		return nil, err
	}
	span.SetAttributes(attribute.String("jules.record", js.Name))
	log := t.log.With("jules_record", js.Name, "trace_id", span.SpanContext().TraceID().String())

	automation := AutomationModeUnspecified
	if req.AutoCreatePR {
		automation = AutoCreatePR
	}
	sc := &SourceContext{Source: req.Source}
	if req.StartingBranch != "" {
		sc.GitHubRepoContext = &GitHubRepoContext{StartingBranch: req.StartingBranch}
	}
	s, cerr := t.cfg.Client.CreateSession(ctx, &Session{
		Prompt: req.Prompt, Title: js.Spec.Title, SourceContext: sc, RequirePlanApproval: true, AutomationMode: automation,
	})
	if cerr != nil {
		if notCreated(cerr) {
			t.release(ctx, js, rv, cerr)
			return nil, fmt.Errorf("start jules session %s: %w", js.Name, cerr)
		}
		log.Warn("jules session creation outcome unknown; the leader adopts it if it exists", "err", cerr)
		return js, fmt.Errorf("start jules session %s: %w (the session may exist at Jules: the hub adopts it if so)", js.Name, cerr)
	}
	span.SetAttributes(attribute.String("gen_ai.conversation.id", s.ID))
	out, err := t.update(ctx, js.Name, func(r *hubv1alpha1.JulesSession) (bool, error) {
		if r.Status.SessionName != "" {
			return false, nil // adopted meanwhile
		}
		r.Status.SessionName, r.Status.URL, r.Status.State, r.Status.Phase = s.Name, s.URL, string(s.State), hubv1alpha1.JulesActive
		return true, nil
	}, &store.AuditEntry{
		Actor: actorOr(req.RequestedBy), Action: "jules.session.create", Target: hubv1alpha1.KindJulesSession + "/" + js.Name,
		TraceID: span.SpanContext().TraceID().String(),
		Details: mustJSON(map[string]any{"purpose": req.Purpose, "source": req.Source, "session": s.Name, "promptSHA256": digest(req.Prompt),
			"application": req.ApplicationRef, "incident": req.IncidentRef}),
	})
	if err != nil {
		// Jules has the session; the record stays Pending and the leader adopts it by title.
		return js, fmt.Errorf("record jules session %s as %s: %w", s.Name, js.Name, err)
	}
	log.Info("jules session created", "session", s.Name, "purpose", req.Purpose)
	return out, nil
}

// notCreated reports whether a create error means Jules certainly created nothing.
func notCreated(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode >= 400 && apiErr.StatusCode < 500
	}
	return errors.Is(err, ErrNoKey)
}

// Day is the budget day of t: its UTC date.
func Day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// recordName is the name of budget slot n of day.
func recordName(day string, n int) string {
	return fmt.Sprintf("jules-%s-%03d", strings.ReplaceAll(day, "-", ""), n)
}

// reserve creates the record of the first free budget slot of today. The create-if-absent
// write makes the slot count exact across members and restarts.
func (t *Tracker) reserve(ctx context.Context, req StartRequest, traceparent string) (*hubv1alpha1.JulesSession, uint64, error) {
	day := Day(t.cfg.Now())
	if err := t.cfg.Node.ReadBarrier(ctx); err != nil {
		return nil, 0, fmt.Errorf("read the jules session budget: %w", err)
	}
	taken, err := t.taken(day)
	if err != nil {
		return nil, 0, err
	}
	for n := 1; n <= t.cfg.DailyBudget; n++ {
		name := recordName(day, n)
		if taken[name] {
			continue
		}
		js := &hubv1alpha1.JulesSession{
			TypeMeta: metav1.TypeMeta{APIVersion: hubv1alpha1.GroupVersion.String(), Kind: hubv1alpha1.KindJulesSession},
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
				LabelDay: strings.ReplaceAll(day, "-", ""), LabelPurpose: string(req.Purpose),
			}},
			Spec: hubv1alpha1.JulesSessionSpec{
				Purpose: req.Purpose, Day: day, Source: req.Source, StartingBranch: req.StartingBranch,
				Title: title(req, name), Prompt: req.Prompt, Placeholders: req.Placeholders, AutoCreatePR: req.AutoCreatePR,
				ApplicationRef: req.ApplicationRef, IncidentRef: req.IncidentRef, RequestedBy: req.RequestedBy, TraceParent: traceparent,
			},
			Status: hubv1alpha1.JulesSessionStatus{Phase: hubv1alpha1.JulesPending},
		}
		// Created at the tracker's clock, which also says how old a record waiting to be adopted is.
		cmd, err := store.EncodeCreateWith(hubv1alpha1.KindJulesSession, js, string(uuid.NewUUID()), t.cfg.Now())
		if err != nil {
			return nil, 0, fmt.Errorf("encode jules session %s: %w", name, err)
		}
		res, err := writes.One(ctx, t.cfg.Node, cmd)
		switch {
		case err == nil:
			var out hubv1alpha1.JulesSession
			if err := res.Resource.Decode(&out); err != nil {
				return nil, 0, err
			}
			return &out, res.Resource.ResourceVersion, nil
		case errors.Is(err, store.ErrAlreadyExists), errors.Is(err, raftnode.ErrOutcomeUnknown):
			continue // another member took the slot, or ours may have landed: it counts either way
		default:
			return nil, 0, fmt.Errorf("reserve jules session slot %s: %w", name, err)
		}
	}
	return nil, 0, fmt.Errorf("%w: %d of %d sessions used on %s (UTC); raise the budget or wait for tomorrow", ErrBudgetExhausted, len(taken), t.cfg.DailyBudget, day)
}

// taken returns the names of day's records.
func (t *Tracker) taken(day string) (map[string]bool, error) {
	list, _, err := t.cfg.Store.List(hubv1alpha1.KindJulesSession, "", LabelDay+"="+strings.ReplaceAll(day, "-", ""))
	if err != nil {
		return nil, fmt.Errorf("list jules sessions of %s: %w", day, err)
	}
	out := make(map[string]bool, len(list))
	for _, r := range list {
		out[r.Name] = true
	}
	return out, nil
}

// UsedToday returns how many of today's budget slots are taken, and the budget.
func (t *Tracker) UsedToday(ctx context.Context) (used, budget int, err error) {
	if err := t.cfg.Node.ReadBarrier(ctx); err != nil {
		return 0, 0, err
	}
	taken, err := t.taken(Day(t.cfg.Now()))
	return len(taken), t.cfg.DailyBudget, err
}

// release frees the slot of a session Jules refused, and audits the refusal.
func (t *Tracker) release(ctx context.Context, js *hubv1alpha1.JulesSession, rv uint64, cause error) {
	cmd, err := store.EncodeDelete(hubv1alpha1.KindJulesSession, "", js.Name, rv)
	if err == nil {
		cmd, err = store.WithAudit(cmd, store.AuditEntry{
			Actor: actorOr(js.Spec.RequestedBy), Action: "jules.session.refused", Target: hubv1alpha1.KindJulesSession + "/" + js.Name,
			Details: mustJSON(map[string]any{"purpose": js.Spec.Purpose, "source": js.Spec.Source, "error": truncate(cause.Error(), 512)}),
		})
	}
	if err == nil {
		_, err = writes.One(ctx, t.cfg.Node, cmd)
	}
	if err != nil {
		t.log.Warn("could not free the budget slot of a refused jules session", "jules_record", js.Name, "err", err)
	}
}

func title(req StartRequest, name string) string {
	s := strings.Join(strings.Fields(req.Summary), " ")
	if len(s) > 80 {
		s = s[:80]
	}
	if s == "" {
		s = strings.ToLower(string(req.Purpose))
	}
	return fmt.Sprintf("KubeDevAIOps: %s [%s]", s, name)
}

// Get returns a record as this member holds it.
func (t *Tracker) Get(name string) (*hubv1alpha1.JulesSession, error) {
	js, _, err := t.get(name)
	return js, err
}

func (t *Tracker) get(name string) (*hubv1alpha1.JulesSession, uint64, error) {
	res, err := t.cfg.Store.Get(hubv1alpha1.KindJulesSession, "", name)
	if err != nil {
		return nil, 0, err
	}
	var js hubv1alpha1.JulesSession
	if err := res.Decode(&js); err != nil {
		return nil, 0, fmt.Errorf("decode JulesSession/%s: %w", name, err)
	}
	return &js, res.ResourceVersion, nil
}

// PlanName is a stable name for the KubeDevAIOps Plan of a record's current Jules plan.
func PlanName(js *hubv1alpha1.JulesSession) string {
	id := ""
	if js.Status.Plan != nil {
		id = js.Status.Plan.ID
	}
	return js.Name + "-" + digest(id)[:10]
}

// ApprovePlan records a person's approval of the Jules plan planID a session awaits approval
// for, then tells Jules. planID must be the plan the person reviewed: a plan Jules regenerated
// since is not approved. When Jules cannot be told now, the approval stays recorded and the
// leader sends it on its next poll. Approving an approved plan again does nothing.
func (t *Tracker) ApprovePlan(ctx context.Context, name, planID, approver string) (*hubv1alpha1.JulesSession, error) {
	if planID == "" || approver == "" {
		return nil, errors.New("approve jules plan: the plan id and the approver are required")
	}
	js, err := t.update(ctx, name, func(r *hubv1alpha1.JulesSession) (bool, error) {
		st := &r.Status
		switch {
		case st.Plan == nil:
			return false, fmt.Errorf("approve jules plan of %s: Jules has proposed no plan", name)
		case st.Plan.ID != planID:
			return false, fmt.Errorf("approve jules plan of %s: the plan is now %s, not the reviewed %s: review it again", name, st.Plan.ID, planID)
		case st.Approval != nil && st.Approval.PlanID == planID:
			return false, nil
		case r.Status.Phase != hubv1alpha1.JulesActive || State(st.State) != StateAwaitingPlanApproval:
			return false, fmt.Errorf("approve jules plan of %s: the session is %s/%s, not awaiting plan approval", name, st.Phase, st.State)
		}
		st.Approval = &hubv1alpha1.JulesPlanApproval{PlanID: planID, By: approver, Time: t.now()}
		return true, nil
	}, &store.AuditEntry{
		Actor: approver, Action: "jules.plan.approve", Target: hubv1alpha1.KindJulesSession + "/" + name,
		Details: mustJSON(map[string]string{"planID": planID}),
	})
	if err != nil {
		return nil, err
	}
	if js.Status.Approval.SentTime != nil {
		return js, nil
	}
	return t.sendApproval(ctx, js)
}

// sendApproval tells Jules about a recorded approval, and records that it did.
func (t *Tracker) sendApproval(ctx context.Context, js *hubv1alpha1.JulesSession) (*hubv1alpha1.JulesSession, error) {
	planID := js.Status.Approval.PlanID
	if err := t.cfg.Client.ApprovePlan(ctx, js.Status.SessionName); err != nil {
		return js, fmt.Errorf("approve jules plan %s of %s (the approval is recorded; the leader resends it): %w", planID, js.Name, err)
	}
	return t.update(ctx, js.Name, func(r *hubv1alpha1.JulesSession) (bool, error) {
		if a := r.Status.Approval; a != nil && a.PlanID == planID && a.SentTime == nil {
			now := t.now()
			a.SentTime = &now
			return true, nil
		}
		return false, nil
	}, nil)
}

// SendMessage sends a person's message to a session, e.g. to answer its question. It leaves
// the hub, so it is anonymised first, continuing the prompt's placeholders: the names the
// prompt replaced are replaced the same way, and new values found in it (addresses, emails,
// tokens) get new placeholders, recorded with the session before the message goes out so
// Jules' answers about them are restored.
func (t *Tracker) SendMessage(ctx context.Context, name, text, by string) error {
	if strings.TrimSpace(text) == "" {
		return fmt.Errorf("message jules session %s: %w: the message is empty", name, ErrInvalidMessage)
	}
	if len(text) > MaxPromptSize {
		return fmt.Errorf("message jules session %s: %w: the message is %d bytes, limit %d", name, ErrInvalidMessage, len(text), MaxPromptSize)
	}
	if err := t.cfg.Node.ReadBarrier(ctx); err != nil {
		return fmt.Errorf("message jules session %s: %w", name, err)
	}
	js, err := t.Get(name)
	if err != nil {
		return err
	}
	if js.Status.Phase != hubv1alpha1.JulesActive || js.Status.SessionName == "" {
		return fmt.Errorf("message jules session %s: %w: it is %s", name, ErrSessionNotActive, js.Status.Phase)
	}
	anon := anonymize.Resume(js.Spec.Placeholders)
	text = anon.Anonymize(text)
	if grown := anon.Placeholders(); len(grown) != len(js.Spec.Placeholders) {
		if _, err := t.update(ctx, name, func(r *hubv1alpha1.JulesSession) (bool, error) {
			r.Spec.Placeholders = grown
			return true, nil
		}, nil); err != nil {
			return fmt.Errorf("message jules session %s: record its placeholders: %w", name, err)
		}
	}
	if err := t.cfg.Client.SendMessage(ctx, js.Status.SessionName, text); err != nil {
		return fmt.Errorf("message jules session %s: %w", name, err)
	}
	return t.audit(ctx, store.AuditEntry{Actor: actorOr(by), Action: "jules.message.send", Target: hubv1alpha1.KindJulesSession + "/" + name,
		Details: mustJSON(map[string]string{"session": js.Status.SessionName, "messageSHA256": digest(text)})})
}

// Close stops following a session that is still pending or active, e.g. because people
// rejected its plan: the record becomes Closed with the reason, and the leader polls it no
// more. Jules' public API has no call to cancel a session; one waiting for a plan approval
// never gets it and does nothing. Closing a finished record does nothing.
func (t *Tracker) Close(ctx context.Context, name, reason, by string) error {
	_, err := t.update(ctx, name, func(r *hubv1alpha1.JulesSession) (bool, error) {
		if r.Status.Phase != hubv1alpha1.JulesActive && r.Status.Phase != hubv1alpha1.JulesPending {
			return false, nil
		}
		now := t.now()
		r.Status.Phase, r.Status.Message, r.Status.CompletionTime = hubv1alpha1.JulesClosed, truncate(reason, maxMessage), &now
		return true, nil
	}, &store.AuditEntry{Actor: actorOr(by), Action: "jules.session.close", Target: hubv1alpha1.KindJulesSession + "/" + name,
		Details: mustJSON(map[string]string{"reason": truncate(reason, 512)})})
	return err
}

// SetPlanRef records the KubeDevAIOps Plan made for the record's Jules plan planID, for a lead
// that makes Plans outside the PlanReady hook.
func (t *Tracker) SetPlanRef(ctx context.Context, name, planID, planRef string) error {
	_, err := t.update(ctx, name, func(r *hubv1alpha1.JulesSession) (bool, error) {
		if r.Status.Plan == nil || r.Status.Plan.ID != planID {
			return false, fmt.Errorf("jules session %s: plan %s is not its current plan", name, planID)
		}
		if r.Status.PlanRef == planRef {
			return false, nil
		}
		r.Status.PlanRef = planRef
		return true, nil
	}, nil)
	return err
}

// update applies mutate to the record and writes it conditionally on the version read,
// re-reading on a conflict. mutate returns false for no change. The audit entry, if any, is
// appended with the write.
func (t *Tracker) update(ctx context.Context, name string, mutate func(*hubv1alpha1.JulesSession) (bool, error), audit *store.AuditEntry) (*hubv1alpha1.JulesSession, error) {
	// On a follower the record just written may not be applied here yet.
	if err := t.cfg.Node.ReadBarrier(ctx); err != nil {
		return nil, fmt.Errorf("read JulesSession/%s: %w", name, err)
	}
	for attempt := 0; ; attempt++ {
		js, rv, err := t.get(name)
		if err != nil {
			return nil, err
		}
		changed, err := mutate(js)
		if err != nil || !changed {
			return js, err
		}
		cmd, err := store.EncodeUpdate(hubv1alpha1.KindJulesSession, js, rv)
		if err == nil && audit != nil {
			cmd, err = store.WithAudit(cmd, *audit)
		}
		if err != nil {
			return nil, fmt.Errorf("encode JulesSession/%s: %w", name, err)
		}
		res, err := writes.One(ctx, t.cfg.Node, cmd)
		if errors.Is(err, store.ErrConflict) && attempt < 8 {
			if berr := t.cfg.Node.ReadBarrier(ctx); berr != nil {
				return nil, berr
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("write JulesSession/%s: %w", name, err)
		}
		var out hubv1alpha1.JulesSession
		if err := res.Resource.Decode(&out); err != nil {
			return nil, err
		}
		return &out, nil
	}
}

func (t *Tracker) audit(ctx context.Context, e store.AuditEntry) error {
	cmd, err := store.EncodeAuditAppend(e)
	if err != nil {
		return err
	}
	_, err = writes.One(ctx, t.cfg.Node, cmd)
	return err
}

func (t *Tracker) now() metav1.Time { return metav1.NewTime(t.cfg.Now().UTC().Truncate(time.Second)) }

func actorOr(by string) string {
	if by == "" {
		return "hub/jules"
	}
	return by
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}
