package ai

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Config chooses who answers each task. The hub fills it from its flags or config file.
type Config struct {
	// Routes lists, per task, the providers to ask in order. The built-in engine answers a task
	// without a route, and a task whose providers all failed or answered something invalid;
	// naming it ends a route (providers after it are never asked).
	Routes map[Task][]string `json:"routes,omitempty"`
	// ExternalForbidden names the clusters and cluster sets whose data never goes to an external
	// provider (any provider but the built-in engine).
	ExternalForbidden ExternalPolicy `json:"externalForbidden,omitempty"`
}

// ExternalPolicy names clusters and cluster sets.
type ExternalPolicy struct {
	Clusters    []string `json:"clusters,omitempty"`
	ClusterSets []string `json:"clusterSets,omitempty"`
}

// ParseRoute reads a route as a flag gives it, "task=provider[,provider...]", e.g.
// "explain=openai" or "plan=jules,builtin".
func ParseRoute(s string) (Task, []string, error) {
	task, list, ok := strings.Cut(strings.TrimSpace(s), "=")
	t := Task(strings.TrimSpace(task))
	if !ok || !t.Valid() {
		return "", nil, fmt.Errorf("AI route %q: want TASK=PROVIDER[,PROVIDER...] with TASK one of %s", s, joinTasks())
	}
	var providers []string
	for p := range strings.SplitSeq(list, ",") {
		if p = strings.TrimSpace(p); p == "" {
			return "", nil, fmt.Errorf("AI route %q: empty provider name", s)
		}
		providers = append(providers, p)
	}
	return t, providers, nil
}

// SetRoute adds a route in ParseRoute's form, replacing the task's previous one.
func (c *Config) SetRoute(s string) error {
	t, ps, err := ParseRoute(s)
	if err != nil {
		return err
	}
	if c.Routes == nil {
		c.Routes = map[Task][]string{}
	}
	c.Routes[t] = ps
	return nil
}

// Validate checks the configuration on its own: known tasks, non-empty routes without
// repeated providers, and cluster and set names that are Kubernetes names.
func (c Config) Validate() error {
	for t, ps := range c.Routes {
		if !t.Valid() {
			return fmt.Errorf("AI routes: unknown task %q (known: %s)", t, joinTasks())
		}
		if len(ps) == 0 {
			return fmt.Errorf("AI route of %s: no providers", t)
		}
		for i, p := range ps {
			if p == "" {
				return fmt.Errorf("AI route of %s: empty provider name", t)
			}
			if slices.Contains(ps[:i], p) {
				return fmt.Errorf("AI route of %s: %s named twice", t, p)
			}
		}
	}
	for _, n := range append(slices.Clone(c.ExternalForbidden.Clusters), c.ExternalForbidden.ClusterSets...) {
		if len(validation.IsDNS1123Subdomain(n)) > 0 {
			return fmt.Errorf("AI external policy: %q is not a cluster or cluster set name", n)
		}
	}
	return nil
}

// Registry picks the engine of each task by its Config and keeps every answer honest: it asks
// the route's providers in order, skipping external ones the request's scope forbids,
// validates each answer, and falls back to the built-in engine when a provider fails or its
// answer is invalid. It is safe for concurrent use.
type Registry struct {
	cfg     Config
	builtin Engine
	engines map[string]Engine
}

// NewRegistry builds a registry. builtin is the built-in engine (named BuiltinName, doing every
// task); providers are the external ones. Every provider a route names must be given and do
// the task.
func NewRegistry(cfg Config, builtin Engine, providers ...Engine) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if builtin == nil || builtin.Name() != BuiltinName {
		return nil, fmt.Errorf("AI registry: the built-in engine must be named %q", BuiltinName)
	}
	for _, t := range AllTasks() {
		if !slices.Contains(builtin.Capabilities(), t) {
			return nil, fmt.Errorf("AI registry: the built-in engine does not do %s, and it is every task's fallback", t)
		}
	}
	r := &Registry{cfg: cfg, builtin: builtin, engines: map[string]Engine{BuiltinName: builtin}}
	for _, p := range providers {
		if p == nil {
			return nil, errors.New("AI registry: nil provider")
		}
		name := p.Name()
		if _, dup := r.engines[name]; dup || name == "" {
			return nil, fmt.Errorf("AI registry: provider name %q is empty or taken", name)
		}
		r.engines[name] = p
	}
	for _, t := range AllTasks() {
		for _, name := range cfg.Routes[t] {
			e, ok := r.engines[name]
			if !ok {
				return nil, fmt.Errorf("AI route of %s: unknown provider %q (configured: %s)", t, name, strings.Join(r.names(), ", "))
			}
			if !slices.Contains(e.Capabilities(), t) {
				return nil, fmt.Errorf("AI route of %s: provider %s does not do %s (it does %v)", t, name, t, e.Capabilities())
			}
		}
	}
	return r, nil
}

func (r *Registry) names() []string {
	out := make([]string, 0, len(r.engines))
	for n := range r.engines {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Route is the providers asked for task t, in order, ending with the built-in engine.
func (r *Registry) Route(t Task) []string {
	var out []string
	for _, p := range r.cfg.Routes[t] {
		if p == BuiltinName {
			break
		}
		out = append(out, p)
	}
	return append(out, BuiltinName)
}

// External says whether provider is external: any but the built-in engine.
func (r *Registry) External(provider string) bool { return provider != BuiltinName }

// Allowed says whether data of cluster, a member of sets, may go to provider. The built-in
// engine is always allowed; external providers are not for a cluster or set the configuration
// forbids.
func (r *Registry) Allowed(provider, cluster string, sets []string) bool {
	ok, _ := r.allowed(provider, Scope{Clusters: []string{cluster}, ClusterSets: sets})
	return ok
}

// AllowedScope is Allowed for every cluster and set of a request's scope; when not allowed, the
// reason names the forbidden cluster or set.
func (r *Registry) AllowedScope(provider string, s Scope) (bool, string) {
	return r.allowed(provider, s)
}

func (r *Registry) allowed(provider string, s Scope) (bool, string) {
	if !r.External(provider) {
		return true, ""
	}
	if s.ExternalForbiddenBy != "" {
		return false, "external providers are forbidden by " + s.ExternalForbiddenBy
	}
	for _, c := range s.Clusters {
		if slices.Contains(r.cfg.ExternalForbidden.Clusters, c) {
			return false, fmt.Sprintf("external providers are forbidden for cluster %s", c)
		}
	}
	for _, set := range s.ClusterSets {
		if slices.Contains(r.cfg.ExternalForbidden.ClusterSets, set) {
			return false, fmt.Sprintf("external providers are forbidden for cluster set %s", set)
		}
	}
	return true, ""
}

// Outcome is what became of one provider's attempt.
type Outcome string

// The outcomes.
const (
	OutcomeAnswered  Outcome = "answered"
	OutcomeFailed    Outcome = "failed"
	OutcomeInvalid   Outcome = "invalid"
	OutcomeForbidden Outcome = "forbidden"
)

// Attempt is one provider asked (or skipped) for a task.
type Attempt struct {
	Provider string  `json:"provider"`
	Model    string  `json:"model,omitempty"`
	Outcome  Outcome `json:"outcome"`
	// Error says why the attempt did not answer; empty when it did.
	Error string `json:"error,omitempty"`
	Usage Usage  `json:"usage"`
}

// Result is a validated answer and who gave it.
type Result[T any] struct {
	Answer T `json:"answer"`
	// Provider and Model that gave the answer.
	Provider string `json:"provider"`
	Model    string `json:"model,omitempty"`
	// FellBack is true when the answer is not the route's first choice: the providers before
	// Provider failed, answered something invalid or were forbidden; FallbackReason says how.
	FellBack       bool   `json:"fellBack"`
	FallbackReason string `json:"fallbackReason,omitempty"`
	// Attempts are every provider asked or skipped, in order, the answering one last.
	Attempts []Attempt `json:"attempts"`
	// Usage sums the tokens of every attempt (failed calls cost too).
	Usage Usage `json:"usage"`
}

// Note is a sentence for a plan's rationale or an audit record when the answer fell back, and
// empty otherwise.
func (r Result[T]) Note() string {
	if !r.FellBack {
		return ""
	}
	return fmt.Sprintf("Answered by %s because %s.", r.Provider, r.FallbackReason)
}

// Span attribute keys of an AI call (GenAI semantic conventions and the project's own).
const (
	AttrProvider       = attribute.Key("gen_ai.provider.name")
	AttrModel          = attribute.Key("gen_ai.request.model")
	AttrInputTokens    = attribute.Key("gen_ai.usage.input_tokens")
	AttrOutputTokens   = attribute.Key("gen_ai.usage.output_tokens")
	AttrFellBack       = attribute.Key("kubedevaiops.ai.fell_back")
	AttrFallbackReason = attribute.Key("kubedevaiops.ai.fallback_reason")
	AttrAttempts       = attribute.Key("kubedevaiops.ai.attempts")
)

// Attributes describe the result on a span.
func (r Result[T]) Attributes() []attribute.KeyValue {
	out := []attribute.KeyValue{
		AttrProvider.String(GenAIProviderName(r.Provider)), AttrModel.String(r.Model),
		AttrInputTokens.Int64(r.Usage.InputTokens), AttrOutputTokens.Int64(r.Usage.OutputTokens),
		AttrFellBack.Bool(r.FellBack),
	}
	if r.FellBack {
		out = append(out, AttrFallbackReason.String(r.FallbackReason))
	}
	var tried []string
	for _, a := range r.Attempts {
		tried = append(tried, a.Provider+":"+string(a.Outcome))
	}
	return append(out, AttrAttempts.StringSlice(tried))
}

// run asks the route of task for an answer.
func run[Ans any](ctx context.Context, r *Registry, task Task, scope Scope, reqErr error,
	call func(context.Context, Engine) (Ans, Meta, error), check func(Ans) error) (Result[Ans], error) {
	var res Result[Ans]
	if reqErr != nil {
		return res, fmt.Errorf("%s request: %w", task, reqErr)
	}
	var reasons []string
	var lastErr error
	for _, name := range r.Route(task) {
		e := r.engines[name]
		a := Attempt{Provider: name}
		if ok, why := r.allowed(name, scope); !ok {
			a.Outcome, a.Error = OutcomeForbidden, why
		} else {
			ans, meta, err := safeCall(ctx, e, call)
			a.Model, a.Usage = meta.Model, meta.Usage
			res.Usage = res.Usage.Add(meta.Usage)
			if err == nil {
				err = check(ans)
			}
			switch {
			case err == nil:
				a.Outcome = OutcomeAnswered
				res.Attempts = append(res.Attempts, a)
				res.Answer, res.Provider, res.Model = ans, name, meta.Model
				res.FellBack = len(reasons) > 0
				res.FallbackReason = strings.Join(reasons, "; ")
				return res, nil
			case errors.Is(err, ErrInvalidAnswer):
				a.Outcome, a.Error = OutcomeInvalid, err.Error()
			default:
				a.Outcome, a.Error = OutcomeFailed, err.Error()
			}
			lastErr = err
		}
		res.Attempts = append(res.Attempts, a)
		reasons = append(reasons, fmt.Sprintf("%s %s: %s", name, a.Outcome, a.Error))
	}
	// The built-in engine is always last: its error is the one to return, after the others'.
	if len(reasons) == 1 {
		return res, fmt.Errorf("%s: %w", task, lastErr)
	}
	return res, fmt.Errorf("%s: no valid answer (%s): %w", task, strings.Join(reasons[:len(reasons)-1], "; "), lastErr)
}

// safeCall calls the engine and turns a panic into an error: a provider choking on a strange
// answer must not take the hub down.
func safeCall[Ans any](ctx context.Context, e Engine, call func(context.Context, Engine) (Ans, Meta, error)) (ans Ans, meta Meta, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("provider %s panicked: %v", e.Name(), p)
		}
	}()
	return call(ctx, e)
}

// Diagnose asks for a diagnosis.
func (r *Registry) Diagnose(ctx context.Context, req DiagnoseRequest) (Result[DiagnoseAnswer], error) {
	return run(ctx, r, TaskDiagnose, req.Scope, req.Validate(),
		func(ctx context.Context, e Engine) (DiagnoseAnswer, Meta, error) { return e.Diagnose(ctx, req) },
		func(a DiagnoseAnswer) error { return ValidateDiagnosis(req, a) })
}

// Plan asks for the remediations of an incident.
func (r *Registry) Plan(ctx context.Context, req PlanRequest) (Result[PlanAnswer], error) {
	return run(ctx, r, TaskPlan, req.Scope, req.Validate(),
		func(ctx context.Context, e Engine) (PlanAnswer, Meta, error) { return e.Plan(ctx, req) },
		func(a PlanAnswer) error { return ValidatePlan(req, a) })
}

// GenerateManifests asks for the manifests of an application.
func (r *Registry) GenerateManifests(ctx context.Context, req ManifestRequest) (Result[ManifestAnswer], error) {
	return run(ctx, r, TaskManifests, req.Scope, req.Validate(),
		func(ctx context.Context, e Engine) (ManifestAnswer, Meta, error) {
			return e.GenerateManifests(ctx, req)
		},
		func(a ManifestAnswer) error { return ValidateManifests(req, a) })
}

// Explain asks for an explanation.
func (r *Registry) Explain(ctx context.Context, req ExplainRequest) (Result[ExplainAnswer], error) {
	return run(ctx, r, TaskExplain, req.Scope, req.Validate(),
		func(ctx context.Context, e Engine) (ExplainAnswer, Meta, error) { return e.Explain(ctx, req) },
		ValidateExplanation)
}

// Answer asks a question about the fleet.
func (r *Registry) Answer(ctx context.Context, req QuestionRequest) (Result[QuestionAnswer], error) {
	return run(ctx, r, TaskAnswer, req.Scope, req.Validate(),
		func(ctx context.Context, e Engine) (QuestionAnswer, Meta, error) { return e.Answer(ctx, req) },
		ValidateQuestionAnswer)
}

func joinTasks() string {
	var s []string
	for _, t := range AllTasks() {
		s = append(s, string(t))
	}
	return strings.Join(s, ", ")
}
