package ai

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Task is one kind of work an engine can do; an engine's capabilities are the tasks it does.
type Task string

// The tasks.
const (
	// TaskDiagnose: the root cause of an incident, with candidate remediations.
	TaskDiagnose Task = "diagnose"
	// TaskPlan: the ranked remediations for an incident.
	TaskPlan Task = "plan"
	// TaskManifests: Kubernetes manifests for a ManagedApplication.
	TaskManifests Task = "manifests"
	// TaskExplain: a plain-text summary of a plan, an incident or a diagnosis.
	TaskExplain Task = "explain"
	// TaskAnswer: an answer to a question about the fleet.
	TaskAnswer Task = "answer"
)

// AllTasks lists every task in a stable order.
func AllTasks() []Task {
	return []Task{TaskDiagnose, TaskPlan, TaskManifests, TaskExplain, TaskAnswer}
}

// Valid says whether t is one of AllTasks.
func (t Task) Valid() bool { return slices.Contains(AllTasks(), t) }

// BuiltinName is the name of the built-in engine, the one that needs no network and is always
// there to fall back to.
const BuiltinName = "builtin"

// GenAIProviderName is the gen_ai.provider.name of a provider in traces: the built-in engine is
// "kubedevaiops.builtin", any other provider keeps its name.
func GenAIProviderName(provider string) string {
	if provider == BuiltinName {
		return "kubedevaiops.builtin"
	}
	return provider
}

// Engine is an AI engine. It does the tasks Capabilities lists; the Registry never calls a method
// of a task the engine does not list, and engines answer those with ErrUnsupported (embed
// Unsupported). A method returns its answer and what the call cost (Meta); the Registry
// validates every answer before anyone uses it, so an engine may return what its backend said.
type Engine interface {
	// Name identifies the provider in configuration, results, traces and audit records.
	Name() string
	// Capabilities are the tasks the engine does.
	Capabilities() []Task

	Diagnose(ctx context.Context, req DiagnoseRequest) (DiagnoseAnswer, Meta, error)
	Plan(ctx context.Context, req PlanRequest) (PlanAnswer, Meta, error)
	GenerateManifests(ctx context.Context, req ManifestRequest) (ManifestAnswer, Meta, error)
	Explain(ctx context.Context, req ExplainRequest) (ExplainAnswer, Meta, error)
	Answer(ctx context.Context, req QuestionRequest) (QuestionAnswer, Meta, error)
}

// Usage is the tokens one call consumed; zero for the built-in engine.
type Usage struct {
	InputTokens  int64 `json:"inputTokens,omitempty"`
	OutputTokens int64 `json:"outputTokens,omitempty"`
}

// Add sums two usages.
func (u Usage) Add(o Usage) Usage {
	return Usage{InputTokens: u.InputTokens + o.InputTokens, OutputTokens: u.OutputTokens + o.OutputTokens}
}

// Meta is what a call reports besides its answer.
type Meta struct {
	// Model that answered, e.g. "gpt-4o-mini" or "builtin-diagnose/v1".
	Model string `json:"model,omitempty"`
	Usage Usage  `json:"usage"`
}

// ErrUnsupported is returned for a task the engine does not do.
var ErrUnsupported = errors.New("task not supported by this engine")

// ErrInvalidAnswer marks an answer that failed parsing or validation. The parsers and validators
// of this package wrap it; a provider that refuses its backend's answer itself should wrap it too,
// so the Registry reports the fallback as an invalid answer rather than a failed call.
var ErrInvalidAnswer = errors.New("invalid answer")

// invalid wraps ErrInvalidAnswer with what was wrong.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidAnswer, fmt.Sprintf(format, args...))
}

// Unsupported answers every task with ErrUnsupported. Embed it in an engine and override the
// methods of the tasks it does.
type Unsupported struct{}

func (Unsupported) Diagnose(context.Context, DiagnoseRequest) (DiagnoseAnswer, Meta, error) {
	return DiagnoseAnswer{}, Meta{}, fmt.Errorf("%s: %w", TaskDiagnose, ErrUnsupported)
}

func (Unsupported) Plan(context.Context, PlanRequest) (PlanAnswer, Meta, error) {
	return PlanAnswer{}, Meta{}, fmt.Errorf("%s: %w", TaskPlan, ErrUnsupported)
}

func (Unsupported) GenerateManifests(context.Context, ManifestRequest) (ManifestAnswer, Meta, error) {
	return ManifestAnswer{}, Meta{}, fmt.Errorf("%s: %w", TaskManifests, ErrUnsupported)
}

func (Unsupported) Explain(context.Context, ExplainRequest) (ExplainAnswer, Meta, error) {
	return ExplainAnswer{}, Meta{}, fmt.Errorf("%s: %w", TaskExplain, ErrUnsupported)
}

func (Unsupported) Answer(context.Context, QuestionRequest) (QuestionAnswer, Meta, error) {
	return QuestionAnswer{}, Meta{}, fmt.Errorf("%s: %w", TaskAnswer, ErrUnsupported)
}
