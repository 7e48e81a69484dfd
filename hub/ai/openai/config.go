package openai

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Defaults of Config; a zero field takes its default.
const (
	DefaultName             = "openai"
	DefaultMaxTokens        = 1024
	DefaultTimeout          = 60 * time.Second
	DefaultMaxAttempts      = 4
	DefaultInitialBackoff   = 500 * time.Millisecond
	DefaultMaxBackoff       = 20 * time.Second
	DefaultMaxRetryAfter    = 60 * time.Second
	DefaultMaxInputBytes    = 64 << 10
	DefaultMaxResponseBytes = 4 << 20
)

// Config is one OpenAI-compatible endpoint and how to call it.
type Config struct {
	// Name labels this provider in metrics, the cache and logs ("openai", "vllm-local"...).
	// Spans always carry gen_ai.provider.name "openai", the API these servers speak.
	Name string `json:"name,omitempty"`
	// BaseURL is the server: https://api.openai.com, http://vllm:8000, http://ollama:11434/v1.
	// Requests go to {BaseURL}/v1/chat/completions; a BaseURL that already ends in /v1 (the
	// form OpenAI's own SDKs take) is not given a second one.
	BaseURL string `json:"baseURL"`
	// Model is the model asked for, e.g. gpt-4o-mini or the name a vLLM server serves.
	Model string `json:"model"`
	// Organization and Project, when set, are sent as OpenAI-Organization and OpenAI-Project.
	Organization string `json:"organization,omitempty"`
	Project      string `json:"project,omitempty"`
	// Temperature, when set, is sent (0 to 2); 0 makes answers as repeatable as the server allows.
	Temperature *float64 `json:"temperature,omitempty"`
	// Seed, when set, is sent for servers that sample deterministically with it.
	Seed *int64 `json:"seed,omitempty"`
	// MaxTokens caps each answer's tokens. It is sent as max_completion_tokens, or as the older
	// max_tokens when LegacyMaxTokens is set (for servers that know only that one).
	MaxTokens       int  `json:"maxTokens,omitempty"`
	LegacyMaxTokens bool `json:"legacyMaxTokens,omitempty"`
	// Timeout bounds each attempt.
	Timeout time.Duration `json:"timeout,omitempty"`
	// MaxAttempts bounds the attempts of one call, retries of 429 and 5xx answers included.
	MaxAttempts int `json:"maxAttempts,omitempty"`
	// InitialBackoff doubles after each failed attempt, up to MaxBackoff, unless the server
	// says how long to wait (Retry-After, retry-after-ms); a wait longer than MaxRetryAfter
	// is not taken: the call fails at once with the server's answer.
	InitialBackoff time.Duration `json:"initialBackoff,omitempty"`
	MaxBackoff     time.Duration `json:"maxBackoff,omitempty"`
	MaxRetryAfter  time.Duration `json:"maxRetryAfter,omitempty"`
	// MaxInputBytes refuses, before any call, a request body (prompt and schema) longer than this.
	MaxInputBytes int `json:"maxInputBytes,omitempty"`
	// MaxResponseBytes refuses a response body longer than this.
	MaxResponseBytes int64 `json:"maxResponseBytes,omitempty"`
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	def(&c.MaxTokens, DefaultMaxTokens)
	def(&c.MaxAttempts, DefaultMaxAttempts)
	def(&c.MaxInputBytes, DefaultMaxInputBytes)
	defDur(&c.Timeout, DefaultTimeout)
	defDur(&c.InitialBackoff, DefaultInitialBackoff)
	defDur(&c.MaxBackoff, DefaultMaxBackoff)
	defDur(&c.MaxRetryAfter, DefaultMaxRetryAfter)
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	return c
}

// validate names what is wrong with the configuration and how to fix it.
func (c Config) validate() error {
	u, err := url.Parse(c.BaseURL)
	switch {
	case c.BaseURL == "":
		return fmt.Errorf("openai provider %q: baseURL is empty: set the server's address, e.g. https://api.openai.com", c.Name)
	case err != nil:
		return fmt.Errorf("openai provider %q: baseURL %q: %w", c.Name, c.BaseURL, err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return fmt.Errorf("openai provider %q: baseURL %q must be an http or https URL with a host", c.Name, c.BaseURL)
	case u.User != nil:
		return fmt.Errorf("openai provider %q: baseURL must not carry credentials; the API key comes from the key source", c.Name)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("openai provider %q: baseURL %q must not have a query or fragment", c.Name, c.BaseURL)
	case strings.TrimSpace(c.Model) == "":
		return fmt.Errorf("openai provider %q: model is empty: name the model to ask for", c.Name)
	case c.Temperature != nil && (*c.Temperature < 0 || *c.Temperature > 2):
		return fmt.Errorf("openai provider %q: temperature %v is outside 0..2", c.Name, *c.Temperature)
	case c.MaxTokens < 0, c.MaxAttempts < 0, c.MaxInputBytes < 0, c.MaxResponseBytes < 0,
		c.Timeout < 0, c.InitialBackoff < 0, c.MaxBackoff < 0, c.MaxRetryAfter < 0:
		return fmt.Errorf("openai provider %q: limits and durations must not be negative", c.Name)
	}
	return nil
}

// chatURL is where chat completions are posted.
func (c Config) chatURL() string {
	base := strings.TrimRight(c.BaseURL, "/")
	if !strings.HasSuffix(base, "/v1") {
		base += "/v1"
	}
	return base + "/chat/completions"
}

// KeySource hands out the API key for each attempt, so a rotated key is used from the next
// call on (the Vault credential source implements it). An empty key sends no Authorization
// header, for servers without authentication. Its errors must not contain the key.
type KeySource interface {
	APIKey(ctx context.Context) (string, error)
}

// KeyFunc adapts a function to KeySource.
type KeyFunc func(ctx context.Context) (string, error)

// APIKey calls f.
func (f KeyFunc) APIKey(ctx context.Context) (string, error) { return f(ctx) }

// Options are the collaborators of a Provider; every field is optional.
type Options struct {
	// HTTPClient sends the requests; http.DefaultClient's transport when nil. Its own Timeout,
	// if any, adds to Config.Timeout.
	HTTPClient *http.Client
	Tracer     trace.Tracer
	Logger     *slog.Logger
	// Cache serves repeated inputs without a call; nil: no cache.
	Cache AnswerCache
	// Meter counts calls and refuses them past a daily budget; nil: nothing counted.
	Meter UsageMeter
	// Sleep waits between attempts; a timer honouring ctx when nil (tests record the waits).
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock, for Retry-After dates; time.Now when nil.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.Tracer == nil {
		o.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
