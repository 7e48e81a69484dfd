package openai

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	genai "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/kubedevaiops/kubedevaiops/hub/ai/accounting"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/anonymize"
	"github.com/kubedevaiops/kubedevaiops/hub/telemetry"
)

// AnswerCache keeps validated, anonymised answers (accounting.Cache implements it).
type AnswerCache interface {
	Lookup(provider, model string, digest accounting.Digest) ([]byte, bool)
	Store(provider, model string, digest accounting.Digest, answer []byte)
}

// UsageMeter counts calls and may refuse them (accounting.Meter implements it).
type UsageMeter interface {
	Allow(provider string) error
	Record(provider, model, outcome string, inputTokens, outputTokens int64)
}

// Outcome of an answer served from the cache, for UsageMeter.Record.
const OutcomeCached = "cached"

// Tasks, as the kubedevaiops.ai.task span attribute and part of the cache key.
const (
	TaskExplain  = "explain"
	TaskQuestion = "question"
)

// ExplainRequest asks for an explanation of something the hub produced.
type ExplainRequest struct {
	// Subject says what is explained: "diagnosis", "plan", "finding"...
	Subject string
	// Material is what is explained, as text or JSON (a diagnosis, a plan). It is anonymised
	// before it is sent.
	Material string
	// Known are the fleet's names in the material, replaced before the call and restored in
	// the answer; a suggested action may target only these (a list left empty is not checked).
	Known anonymize.Known
}

// QuestionRequest is an operator's question with the facts the hub gathered for it.
type QuestionRequest struct {
	Question string
	// Context holds the facts (inventory, findings, diagnoses) the answer may use; anonymised
	// before it is sent.
	Context string
	Known   anonymize.Known
}

// CallInfo says how an answer was obtained, for plans, audit records and traces.
type CallInfo struct {
	Provider      string // Config.Name
	Model         string // the model asked for
	ResponseModel string // the model that answered; empty for a cached answer
	ResponseID    string
	Cached        bool
	InputTokens   int64
	OutputTokens  int64
	// Digest identifies the anonymised input (the cache key with provider and model).
	Digest accounting.Digest
}

// Provider explains and answers through an OpenAI-compatible server.
type Provider struct {
	client *Client
	opts   Options
	server []attribute.KeyValue
}

// New returns a provider for the endpoint; keys may be nil for a server without keys.
func New(cfg Config, keys KeySource, opts Options) (*Provider, error) {
	c, err := NewClient(cfg, keys, opts)
	if err != nil {
		return nil, err
	}
	return &Provider{client: c, opts: c.opts, server: serverAttrs(c.cfg.BaseURL)}, nil
}

// Name is the provider's name in metrics and the cache.
func (p *Provider) Name() string { return p.client.cfg.Name }

// Model is the model the provider asks for.
func (p *Provider) Model() string { return p.client.cfg.Model }

func serverAttrs(base string) []attribute.KeyValue {
	u, err := url.Parse(base)
	if err != nil {
		return nil
	}
	attrs := []attribute.KeyValue{genai.ServerAddressKey.String(u.Hostname())}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if n, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, genai.ServerPortKey.Int(n))
	}
	return attrs
}

const placeholderRule = "Names in angle brackets such as <cluster-1>, <namespace-2>, <workload-3>, <node-1>, " +
	"<ip-1>, <email-1> and <secret-1> stand for real values that are hidden from you: use them exactly as written, " +
	"never invent new ones, and never try to guess what they hide. "

const answerRule = "Answer with one JSON object of the given schema and nothing else. Suggested actions are only " +
	"proposals that a human reviews; propose one only when the material supports it, and leave the list empty otherwise. " +
	"Use an empty cluster when the action concerns the cluster the material is about."

func explainSystemPrompt() string {
	return "You explain, to an operator of a Kubernetes fleet, what the KubeDevAIOps hub found or plans, " +
		"plainly and briefly, using only the material given. " + placeholderRule + answerRule
}

func questionSystemPrompt() string {
	return "You answer an operator's question about a Kubernetes fleet using only the context given; when the " +
		"context does not hold the answer, say what is missing and set answerable to false. " + placeholderRule + answerRule
}

// Explain asks for an explanation of req.Material.
func (p *Provider) Explain(ctx context.Context, req ExplainRequest) (Explanation, CallInfo, error) {
	if strings.TrimSpace(req.Material) == "" {
		return Explanation{}, CallInfo{}, errors.New("explain: no material to explain")
	}
	subject := strings.TrimSpace(req.Subject)
	if subject == "" {
		subject = "finding"
	}
	var out Explanation
	info, err := p.run(ctx, call{
		task: TaskExplain, system: explainSystemPrompt(), known: req.Known,
		user: func(s *anonymize.Session) string {
			return "Explain this " + s.Anonymize(subject) + ":\n\n" + s.Anonymize(req.Material)
		},
		format: &ResponseSchema{Name: "kubedevaiops_explanation", Description: "An explanation for an operator", Schema: ExplanationSchema()},
		parse: func(content []byte, scope anonymize.Known) (err error) {
			out, err = ParseExplanation(content, scope)
			return err
		},
	})
	if err != nil {
		return Explanation{}, info, err
	}
	return out, info, nil
}

// Ask answers an operator's question from req.Context.
func (p *Provider) Ask(ctx context.Context, req QuestionRequest) (Answer, CallInfo, error) {
	if strings.TrimSpace(req.Question) == "" {
		return Answer{}, CallInfo{}, errors.New("ask: no question")
	}
	var out Answer
	info, err := p.run(ctx, call{
		task: TaskQuestion, system: questionSystemPrompt(), known: req.Known,
		user: func(s *anonymize.Session) string {
			return "Question: " + s.Anonymize(req.Question) + "\n\nContext:\n" + s.Anonymize(req.Context)
		},
		format: &ResponseSchema{Name: "kubedevaiops_answer", Description: "An answer to an operator's question", Schema: AnswerSchema()},
		parse: func(content []byte, scope anonymize.Known) (err error) {
			out, err = ParseAnswer(content, scope)
			return err
		},
	})
	if err != nil {
		return Answer{}, info, err
	}
	return out, info, nil
}

// call is one task: its prompts, schema and parser.
type call struct {
	task, system string
	known        anonymize.Known
	user         func(*anonymize.Session) string
	format       *ResponseSchema
	parse        func(content []byte, scope anonymize.Known) error
}

// run is the path of every task: anonymise, budget, cache, call, refuse what is not a whole
// valid answer, restore the real names, and count and trace it all.
func (p *Provider) run(ctx context.Context, c call) (info CallInfo, err error) {
	cfg := p.client.cfg
	info = CallInfo{Provider: cfg.Name, Model: cfg.Model}
	ctx, span := telemetry.StartGenAI(ctx, p.opts.Tracer,
		telemetry.GenAICall{Operation: telemetry.OperationChat, Provider: telemetry.ProviderOpenAI, Model: cfg.Model},
		append(p.requestAttrs(), attribute.String("kubedevaiops.ai.task", c.task))...)
	var usage Usage
	defer func() {
		outcome := ErrorType(err)
		if err == nil && info.Cached {
			outcome = OutcomeCached
		}
		if p.opts.Meter != nil {
			p.opts.Meter.Record(cfg.Name, cfg.Model, outcome, usage.InputTokens, usage.OutputTokens)
		}
		span.SetAttributes(attribute.Bool("kubedevaiops.ai.cached", info.Cached))
		telemetry.SetGenAIUsage(span, usage.InputTokens, usage.OutputTokens, info.ResponseModel)
		log := p.opts.Logger.InfoContext
		attrs := append(logAttrs(ctx, cfg), slog.String("task", c.task), slog.String("outcome", outcome),
			slog.Int64("input_tokens", usage.InputTokens), slog.Int64("output_tokens", usage.OutputTokens))
		if err != nil {
			log = p.opts.Logger.WarnContext
			attrs = append(attrs, slog.String("error", err.Error()))
			telemetry.SetGenAIError(span, ErrorType(err), err)
		}
		log(ctx, "AI task", attrs...)
		span.End()
	}()

	// The key is a secret of the session too, in case the material holds it.
	known := c.known
	if p.client.keys != nil {
		if k, kerr := p.client.key(ctx); kerr == nil && k != "" {
			known.Secrets = append(append([]string(nil), known.Secrets...), k)
		}
	}
	session := anonymize.NewSession(known)
	messages := []Message{{Role: "system", Content: c.system}, {Role: "user", Content: c.user(session)}}
	info.Digest = accounting.DigestOf(c.task, c.format.Name, c.system, messages[1].Content, p.samplingKey())

	if p.opts.Cache != nil {
		if content, ok := p.opts.Cache.Lookup(cfg.Name, cfg.Model, info.Digest); ok {
			if perr := p.accept(content, session, c); perr == nil {
				info.Cached = true
				return info, nil
			}
			// A cached answer that no longer passes (the scope changed) is asked for again.
		}
	}
	if p.opts.Meter != nil {
		if berr := p.opts.Meter.Allow(cfg.Name); berr != nil {
			return info, fmt.Errorf("%s: %w: %w", cfg.Name, ErrBudgetExhausted, berr)
		}
	}
	resp, err := p.client.Complete(ctx, ChatRequest{Messages: messages, Format: c.format})
	if err != nil {
		return info, fmt.Errorf("%s %s: %w", cfg.Name, c.task, err)
	}
	usage = resp.Usage
	info.ResponseModel, info.ResponseID = resp.Model, resp.ID
	info.InputTokens, info.OutputTokens = usage.InputTokens, usage.OutputTokens
	span.SetAttributes(genai.GenAIResponseIDKey.String(resp.ID), genai.GenAIResponseFinishReasonsKey.StringSlice([]string{resp.FinishReason}))
	if err := checkFinish(resp); err != nil {
		return info, fmt.Errorf("%s %s: %w", cfg.Name, c.task, err)
	}
	content := []byte(resp.Content)
	if err := p.accept(content, session, c); err != nil {
		return info, fmt.Errorf("%s %s: %w", cfg.Name, c.task, err)
	}
	if p.opts.Cache != nil {
		p.opts.Cache.Store(cfg.Name, cfg.Model, info.Digest, content)
	}
	return info, nil
}

// accept checks the anonymised content's shape, restores the real names (secrets stay
// hidden) and parses the result against the caller's scope.
func (p *Provider) accept(content []byte, session *anonymize.Session, c call) error {
	if err := checkShape(content, c.format.Schema); err != nil {
		return err
	}
	if err := c.parse(session.RestoreJSON(content), c.known); err != nil {
		if ia, ok := errorsAsInvalid(err); ok {
			// Audit records keep the anonymised answer, never the restored one.
			ia.Content = string(content[:min(len(content), MaxRefusedContent)])
		}
		return err
	}
	return nil
}

func (p *Provider) requestAttrs() []attribute.KeyValue {
	cfg := p.client.cfg
	attrs := append([]attribute.KeyValue{genai.GenAIOutputTypeKey.String("json"), genai.GenAIRequestMaxTokensKey.Int(cfg.MaxTokens)}, p.server...)
	if cfg.Temperature != nil {
		attrs = append(attrs, genai.GenAIRequestTemperatureKey.Float64(*cfg.Temperature))
	}
	if cfg.Seed != nil {
		attrs = append(attrs, genai.GenAIRequestSeedKey.Int64(*cfg.Seed))
	}
	return attrs
}

// samplingKey is the part of the cache key that changes answers besides the prompt.
func (p *Provider) samplingKey() string {
	cfg := p.client.cfg
	var b strings.Builder
	fmt.Fprintf(&b, "max=%d", cfg.MaxTokens)
	if cfg.Temperature != nil {
		fmt.Fprintf(&b, " t=%v", *cfg.Temperature)
	}
	if cfg.Seed != nil {
		fmt.Fprintf(&b, " seed=%d", *cfg.Seed)
	}
	return b.String()
}
