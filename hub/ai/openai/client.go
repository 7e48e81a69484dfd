package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Message is one chat message.
type Message struct {
	Role    string `json:"role"` // system, user or assistant
	Content string `json:"content"`
}

// ResponseSchema asks for an answer that is JSON of Schema (response_format json_schema,
// strict).
type ResponseSchema struct {
	Name        string // a-z, A-Z, 0-9, _ and -, at most 64
	Description string
	Schema      *Schema
}

// ChatRequest is one chat completion to ask for; model and sampling come from the Config.
type ChatRequest struct {
	Messages []Message
	Format   *ResponseSchema // nil: free text
}

// Usage is what the server counted for a completion.
type Usage struct {
	InputTokens  int64 // usage.prompt_tokens
	OutputTokens int64 // usage.completion_tokens
	TotalTokens  int64 // usage.total_tokens
}

// Finish reasons of the API.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishContentFilter = "content_filter"
	FinishToolCalls     = "tool_calls"
	FinishFunctionCall  = "function_call" // the deprecated form of tool_calls
)

// ChatResponse is the first choice of a completion and what it cost.
type ChatResponse struct {
	ID           string
	Model        string // the model that answered, which may name a snapshot of the one asked for
	Content      string // choices[0].message.content
	Refusal      string // choices[0].message.refusal, when the model refused
	ToolCalls    int    // how many tool calls the message carries (the hub offers no tools)
	FinishReason string
	Usage        Usage
}

// Client calls the chat-completions endpoint: one call is up to Config.MaxAttempts HTTP
// exchanges, retrying rate limits and server failures with backoff.
type Client struct {
	cfg  Config
	keys KeySource
	opts Options
}

// NewClient checks the configuration and returns a client; keys may be nil for servers that
// need no key.
func NewClient(cfg Config, keys KeySource, opts Options) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, keys: keys, opts: opts.withDefaults()}, nil
}

// Config is the client's configuration, defaults filled in.
func (c *Client) Config() Config { return c.cfg }

// wire forms of the API.
type (
	chatRequestWire struct {
		Model               string              `json:"model"`
		Messages            []Message           `json:"messages"`
		Temperature         *float64            `json:"temperature,omitempty"`
		Seed                *int64              `json:"seed,omitempty"`
		MaxCompletionTokens int                 `json:"max_completion_tokens,omitempty"`
		MaxTokens           int                 `json:"max_tokens,omitempty"`
		ResponseFormat      *responseFormatWire `json:"response_format,omitempty"`
	}
	responseFormatWire struct {
		Type       string          `json:"type"`
		JSONSchema *jsonSchemaWire `json:"json_schema,omitempty"`
	}
	jsonSchemaWire struct {
		Name        string  `json:"name"`
		Description string  `json:"description,omitempty"`
		Schema      *Schema `json:"schema"`
		Strict      bool    `json:"strict"`
	}
	chatResponseWire struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Model   string `json:"model"`
		Choices []struct {
			Index   int `json:"index"`
			Message struct {
				Role      string            `json:"role"`
				Content   *string           `json:"content"`
				Refusal   *string           `json:"refusal"`
				ToolCalls []json.RawMessage `json:"tool_calls"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage *struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
			TotalTokens      int64 `json:"total_tokens"`
		} `json:"usage"`
	}
	errorWire struct {
		Error *struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Param   json.RawMessage `json:"param"`
			Code    json.RawMessage `json:"code"` // a string at OpenAI, a number at some servers
		} `json:"error"`
	}
)

// Complete asks for one chat completion. It returns the server's answer as it is: judging
// the content (finish reason, refusal, schema) is the caller's. Retry attempts are recorded
// as events of the span in ctx.
func (c *Client) Complete(ctx context.Context, req ChatRequest) (*ChatResponse, error) {
	body, err := c.encode(req)
	if err != nil {
		return nil, err
	}
	span := trace.SpanFromContext(ctx)
	var refreshed bool // one fresh key after a 401, for a key rotated under us
	for attempt := 1; ; attempt++ {
		resp, key, err := c.attempt(ctx, body)
		if err == nil {
			return resp, nil
		}
		var apiErr *APIError
		isAPI := errors.As(err, &apiErr)
		if isAPI && apiErr.StatusCode == http.StatusUnauthorized && !refreshed && key != "" {
			if fresh, ferr := c.key(ctx); ferr == nil && fresh != key {
				refreshed = true
				attempt--
				c.opts.Logger.InfoContext(ctx, "chat completions refused the key; retrying once with a newer one",
					logAttrs(ctx, c.cfg)...)
				continue
			}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("chat completion: %w", ctx.Err())
		}
		retry := isAPI && apiErr.retryable() || errors.Is(err, ErrTransport) || errors.Is(err, ErrTimeout)
		if !retry || attempt >= c.cfg.MaxAttempts {
			if retry {
				err = fmt.Errorf("after %d attempts: %w", attempt, err)
			}
			return nil, err
		}
		wait := c.backoff(attempt)
		if isAPI && apiErr.RetryAfter > 0 {
			if apiErr.RetryAfter > c.cfg.MaxRetryAfter {
				return nil, fmt.Errorf("the server asks to wait %s, longer than maxRetryAfter %s: %w", apiErr.RetryAfter, c.cfg.MaxRetryAfter, err)
			}
			wait = apiErr.RetryAfter
		}
		span.AddEvent("retry", trace.WithAttributes(attribute.Int("attempt", attempt), attribute.String("error.type", ErrorType(err)),
			attribute.Int64("wait_ms", wait.Milliseconds())))
		c.opts.Logger.WarnContext(ctx, "chat completion failed; retrying",
			append(logAttrs(ctx, c.cfg), slog.Int("attempt", attempt), slog.String("error", err.Error()), slog.Duration("wait", wait))...)
		if err := c.opts.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("chat completion: waiting to retry: %w", err)
		}
	}
}

func (c *Client) encode(req ChatRequest) ([]byte, error) {
	if len(req.Messages) == 0 {
		return nil, errors.New("chat completion: no messages")
	}
	w := chatRequestWire{Model: c.cfg.Model, Messages: req.Messages, Temperature: c.cfg.Temperature, Seed: c.cfg.Seed}
	if c.cfg.LegacyMaxTokens {
		w.MaxTokens = c.cfg.MaxTokens
	} else {
		w.MaxCompletionTokens = c.cfg.MaxTokens
	}
	if f := req.Format; f != nil {
		if !validSchemaName(f.Name) || f.Schema == nil {
			return nil, fmt.Errorf("chat completion: response schema %q needs a name of a-z, A-Z, 0-9, _ and - (at most 64) and a schema", f.Name)
		}
		w.ResponseFormat = &responseFormatWire{Type: "json_schema",
			JSONSchema: &jsonSchemaWire{Name: f.Name, Description: f.Description, Schema: f.Schema, Strict: true}}
	}
	body, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("chat completion: encode request: %w", err)
	}
	if size := len(body); size > c.cfg.MaxInputBytes {
		return nil, fmt.Errorf("chat completion: request of %d bytes, more than maxInputBytes %d: %w", size, c.cfg.MaxInputBytes, ErrInputTooLarge)
	}
	return body, nil
}

func validSchemaName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')) {
			return false
		}
	}
	return true
}

func (c *Client) key(ctx context.Context) (string, error) {
	if c.keys == nil {
		return "", nil
	}
	k, err := c.keys.APIKey(ctx)
	if err != nil {
		// The source's error is its own (a Vault path, a login failure), never the key.
		return "", fmt.Errorf("%w for provider %q: %w", ErrCredentials, c.cfg.Name, err)
	}
	return strings.TrimSpace(k), nil
}

// attempt is one HTTP exchange; it returns the key it used so a 401 can be told from a
// rotation.
func (c *Client) attempt(ctx context.Context, body []byte) (*ChatResponse, string, error) {
	key, err := c.key(ctx)
	if err != nil {
		return nil, "", err
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(actx, http.MethodPost, c.cfg.chatURL(), bytes.NewReader(body))
	if err != nil {
		return nil, key, fmt.Errorf("chat completion: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "kubedevaiops-hub")
	if key != "" {
		hreq.Header.Set("Authorization", "Bearer "+key)
	}
	if c.cfg.Organization != "" {
		hreq.Header.Set("OpenAI-Organization", c.cfg.Organization)
	}
	if c.cfg.Project != "" {
		hreq.Header.Set("OpenAI-Project", c.cfg.Project)
	}
	hresp, err := c.opts.HTTPClient.Do(hreq)
	if err != nil {
		return nil, key, c.transportError(ctx, err, key)
	}
	defer func() { _ = hresp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(hresp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		return nil, key, c.transportError(ctx, err, key)
	}
	if int64(len(raw)) > c.cfg.MaxResponseBytes {
		return nil, key, fmt.Errorf("chat completion: response larger than maxResponseBytes %d: %w", c.cfg.MaxResponseBytes, ErrInvalidAnswer)
	}
	if hresp.StatusCode/100 != 2 {
		return nil, key, c.apiError(hresp, raw, key)
	}
	resp, err := decodeResponse(raw)
	if err != nil {
		return nil, key, fmt.Errorf("chat completion from %s: %w", c.cfg.Name, err)
	}
	return resp, key, nil
}

// transportError classifies a failed exchange; url.Error names only the URL, which holds no
// key, but the text is scrubbed all the same.
func (c *Client) transportError(ctx context.Context, err error, key string) error {
	kind := ErrTransport
	var nerr net.Error
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil || errors.As(err, &nerr) && nerr.Timeout() {
		kind = ErrTimeout
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return fmt.Errorf("chat completion at %s: %w: %s", c.cfg.chatURL(), kind, scrub(err.Error(), key))
}

func (c *Client) apiError(resp *http.Response, raw []byte, key string) *APIError {
	e := &APIError{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id"), RetryAfter: retryAfter(resp.Header, c.opts.Now())}
	var w errorWire
	if json.Unmarshal(raw, &w) == nil && w.Error != nil {
		e.Message, e.Type = w.Error.Message, w.Error.Type
		e.Code, e.Param = rawString(w.Error.Code), rawString(w.Error.Param)
	} else {
		e.Message = strings.TrimSpace(string(raw[:min(len(raw), 200)]))
	}
	// Servers echo keys in their messages ("Incorrect API key provided: sk-..."); the key
	// must not travel on in an error.
	e.Message = scrub(e.Message, key)
	e.Param = scrub(e.Param, key)
	e.Code = scrub(e.Code, key)
	return e
}

func rawString(r json.RawMessage) string {
	if len(r) == 0 || string(r) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(r, &s) == nil {
		return s
	}
	return string(r)
}

// scrub removes the key, and any long part of it, from a text.
func scrub(s, key string) string {
	if key == "" || s == "" {
		return s
	}
	s = strings.ReplaceAll(s, key, "[redacted]")
	// A server may show the key cut short ("sk-abc...xyz"): hide any run of 8 or more of its
	// characters too.
	const run = 8
	for i := 0; i+run <= len(key); i++ {
		if part := key[i : i+run]; strings.Contains(s, part) {
			s = strings.ReplaceAll(s, part, "[redacted]")
		}
	}
	return s
}

// retryAfter reads how long the server asks to wait: retry-after-ms (OpenAI), then
// Retry-After in seconds or as an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < math.MaxInt32 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s > 0 && s < math.MaxInt32 {
			return time.Duration(s * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.InitialBackoff
	for i := 1; i < attempt && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, c.cfg.MaxBackoff)
}

// decodeResponse reads a chat.completion object. Servers add fields of their own
// (system_fingerprint, usage details...), so unknown fields of the envelope are allowed; the
// answer's content is judged strictly elsewhere.
func decodeResponse(raw []byte) (*ChatResponse, error) {
	var w chatResponseWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("response is not a chat.completion object: %w: %w", ErrInvalidAnswer, err)
	}
	if w.Object != "" && w.Object != "chat.completion" {
		return nil, fmt.Errorf("response is a %q object, not chat.completion: %w", w.Object, ErrInvalidAnswer)
	}
	if len(w.Choices) == 0 {
		return nil, fmt.Errorf("response has no choices: %w", ErrInvalidAnswer)
	}
	ch := w.Choices[0]
	r := &ChatResponse{ID: w.ID, Model: w.Model, FinishReason: ch.FinishReason, ToolCalls: len(ch.Message.ToolCalls)}
	if ch.Message.Content != nil {
		r.Content = *ch.Message.Content
	}
	if ch.Message.Refusal != nil {
		r.Refusal = *ch.Message.Refusal
	}
	if u := w.Usage; u != nil {
		if u.PromptTokens < 0 || u.CompletionTokens < 0 || u.TotalTokens < 0 {
			return nil, fmt.Errorf("response counts negative tokens: %w", ErrInvalidAnswer)
		}
		r.Usage = Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
	}
	return r, nil
}

// logAttrs are the attributes of every log line of a call: provider, model, and the trace.
func logAttrs(ctx context.Context, cfg Config) []any {
	attrs := []any{slog.String("provider", cfg.Name), slog.String("model", cfg.Model)}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
	}
	return attrs
}
