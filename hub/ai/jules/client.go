package jules

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kubedevaiops/kubedevaiops/hub/telemetry"
)

// DefaultBaseURL is the Jules REST API.
const DefaultBaseURL = "https://jules.googleapis.com/v1alpha"

// apiKeyHeader carries the API key; it is the only place the key is ever put.
const apiKeyHeader = "X-Goog-Api-Key"

// maxResponseBody bounds an answer read from Jules; an activity page with patches is the largest.
const maxResponseBody = 16 << 20

// KeySource gives the Jules API key, read fresh for every call so a rotated key is picked up.
// The hub's Vault credential source implements it.
type KeySource interface {
	APIKey(ctx context.Context) (string, error)
}

// KeyFunc adapts a function to KeySource.
type KeyFunc func(ctx context.Context) (string, error)

// APIKey implements KeySource.
func (f KeyFunc) APIKey(ctx context.Context) (string, error) { return f(ctx) }

// Config configures a Client.
type Config struct {
	// BaseURL is the API's base, DefaultBaseURL when empty.
	BaseURL string
	// Key gives the API key. Required.
	Key KeySource
	// HTTPClient makes the requests; one with a 60-second timeout when nil.
	HTTPClient *http.Client
	// Tracer starts the calls' client spans; none are recorded when nil.
	Tracer trace.Tracer
	// Logger logs retries and failures (never the key); discarded when nil.
	Logger *slog.Logger
	// MaxAttempts bounds the requests of one call, retries included; 5 when 0.
	MaxAttempts int
	// BaseBackoff is the first retry's delay, doubled for each later one; 500ms when 0.
	BaseBackoff time.Duration
	// MaxBackoff caps a retry's delay; 30s when 0.
	MaxBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits for; a longer one ends the
	// call at once with ErrRateLimited. 2 minutes when 0.
	MaxRetryAfter time.Duration
	// Sleep waits d or until ctx ends; a timer when nil. Tests pass a recording one.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter spreads a backoff delay; uniform in [d/2, d] when nil.
	Jitter func(d time.Duration) time.Duration
}

// Client calls the Jules REST API. Safe for concurrent use.
type Client struct {
	base   *url.URL
	cfg    Config
	hc     *http.Client
	tracer trace.Tracer
	log    *slog.Logger
}

// New returns a client.
func New(cfg Config) (*Client, error) {
	if cfg.Key == nil {
		return nil, errors.New("jules client: a key source is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("jules client: base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	if base.User != nil || base.RawQuery != "" {
		return nil, fmt.Errorf("jules client: base URL %q must carry no credentials or query", base.Redacted())
	}
	c := &Client{base: base, cfg: cfg, hc: cfg.HTTPClient, tracer: cfg.Tracer, log: cfg.Logger}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 60 * time.Second}
	}
	if c.tracer == nil {
		c.tracer = noop.NewTracerProvider().Tracer("")
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.cfg.MaxAttempts <= 0 {
		c.cfg.MaxAttempts = 5
	}
	if c.cfg.BaseBackoff <= 0 {
		c.cfg.BaseBackoff = 500 * time.Millisecond
	}
	if c.cfg.MaxBackoff <= 0 {
		c.cfg.MaxBackoff = 30 * time.Second
	}
	if c.cfg.MaxRetryAfter <= 0 {
		c.cfg.MaxRetryAfter = 2 * time.Minute
	}
	if c.cfg.Sleep == nil {
		c.cfg.Sleep = sleep
	}
	if c.cfg.Jitter == nil {
		c.cfg.Jitter = func(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }
	}
	return c, nil
}

// ListOptions page through a collection.
type ListOptions struct {
	// PageSize is how many items to return, 1 to 100; the server's default when 0.
	PageSize int
	// PageToken is a previous page's NextPageToken; "" for the first page.
	PageToken string
	// Filter is an AIP-160 filter, for sources only.
	Filter string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.PageSize > 0 {
		q.Set("pageSize", strconv.Itoa(o.PageSize))
	}
	if o.PageToken != "" {
		q.Set("pageToken", o.PageToken)
	}
	if o.Filter != "" {
		q.Set("filter", o.Filter)
	}
	return q
}

// maxPages bounds the pages a helper that reads a whole collection follows.
const maxPages = 1000

// ListSources returns one page of the sources connected to Jules.
func (c *Client) ListSources(ctx context.Context, opts ListOptions) (*ListSourcesResponse, error) {
	var out ListSourcesResponse
	err := c.call(ctx, callSpec{op: "sources.list", method: http.MethodGet, path: "sources", query: opts.query()}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// AllSources returns every source, following the pages.
func (c *Client) AllSources(ctx context.Context) ([]Source, error) {
	var all []Source
	opts := ListOptions{PageSize: 100}
	for range maxPages {
		page, err := c.ListSources(ctx, opts)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Sources...)
		if page.NextPageToken == "" {
			return all, nil
		}
		opts.PageToken = page.NextPageToken
	}
	return nil, fmt.Errorf("jules sources.list: more than %d pages", maxPages)
}

// GetSource returns one source, named "sources/...".
func (c *Client) GetSource(ctx context.Context, name string) (*Source, error) {
	path, err := sourcePath(name)
	if err != nil {
		return nil, err
	}
	var out Source
	if err := c.call(ctx, callSpec{op: "sources.get", resource: name, method: http.MethodGet, path: path}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateSession creates a session: s.Prompt and s.SourceContext.Source are required.
func (c *Client) CreateSession(ctx context.Context, s *Session) (*Session, error) {
	if s == nil || strings.TrimSpace(s.Prompt) == "" {
		return nil, errors.New("jules sessions.create: the prompt is empty")
	}
	if s.SourceContext == nil || s.SourceContext.Source == "" {
		return nil, errors.New("jules sessions.create: sourceContext.source is required (a name from sources.list)")
	}
	body, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("jules sessions.create: encode: %w", err)
	}
	var out Session
	if err := c.call(ctx, callSpec{op: "sessions.create", method: http.MethodPost, path: "sessions", body: body}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetSession returns a session, named "sessions/{id}" or by its id.
func (c *Client) GetSession(ctx context.Context, name string) (*Session, error) {
	name, err := SessionName(name)
	if err != nil {
		return nil, err
	}
	var out Session
	if err := c.call(ctx, callSpec{op: "sessions.get", resource: name, method: http.MethodGet, path: name}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListSessions returns one page of sessions.
func (c *Client) ListSessions(ctx context.Context, opts ListOptions) (*ListSessionsResponse, error) {
	opts.Filter = ""
	var out ListSessionsResponse
	if err := c.call(ctx, callSpec{op: "sessions.list", method: http.MethodGet, path: "sessions", query: opts.query()}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ApprovePlan approves the plan a session awaits approval for.
func (c *Client) ApprovePlan(ctx context.Context, session string) error {
	name, err := SessionName(session)
	if err != nil {
		return err
	}
	return c.call(ctx, callSpec{op: "sessions.approvePlan", resource: name, method: http.MethodPost, path: name + ":approvePlan", body: []byte("{}")}, nil)
}

// SendMessage sends the user's prompt to a session, e.g. to answer its question.
func (c *Client) SendMessage(ctx context.Context, session, prompt string) error {
	name, err := SessionName(session)
	if err != nil {
		return err
	}
	if strings.TrimSpace(prompt) == "" {
		return fmt.Errorf("jules sessions.sendMessage %s: the prompt is empty", name)
	}
	body, err := json.Marshal(sendMessageRequest{Prompt: prompt})
	if err != nil {
		return err
	}
	return c.call(ctx, callSpec{op: "sessions.sendMessage", resource: name, method: http.MethodPost, path: name + ":sendMessage", body: body}, nil)
}

// ListActivities returns one page of a session's activities, oldest first.
func (c *Client) ListActivities(ctx context.Context, session string, opts ListOptions) (*ListActivitiesResponse, error) {
	name, err := SessionName(session)
	if err != nil {
		return nil, err
	}
	opts.Filter = ""
	var out ListActivitiesResponse
	if err := c.call(ctx, callSpec{op: "sessions.activities.list", resource: name, method: http.MethodGet, path: name + "/activities", query: opts.query()}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetActivity returns one activity, named "sessions/{session}/activities/{activity}".
func (c *Client) GetActivity(ctx context.Context, name string) (*Activity, error) {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "sessions" || parts[2] != "activities" || !validID(parts[1]) || !validID(parts[3]) {
		return nil, fmt.Errorf("jules sessions.activities.get: %q is not an activity name (sessions/{session}/activities/{activity})", name)
	}
	var out Activity
	if err := c.call(ctx, callSpec{op: "sessions.activities.get", resource: name, method: http.MethodGet, path: name}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SessionName returns the resource name "sessions/{id}" of a session given by name or id.
func SessionName(s string) (string, error) {
	id := strings.TrimPrefix(s, "sessions/")
	if !validID(id) {
		return "", fmt.Errorf("jules: %q is not a session name (sessions/{id}) or id", s)
	}
	return "sessions/" + id, nil
}

// validID reports whether s is a non-empty resource id that needs no escaping in a path.
func validID(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return s != "." && s != ".."
}

func sourcePath(name string) (string, error) {
	parts := strings.Split(name, "/")
	if len(parts) < 2 || parts[0] != "sources" {
		return "", fmt.Errorf("jules sources.get: %q is not a source name (sources/...)", name)
	}
	for _, p := range parts[1:] {
		if !validID(p) {
			return "", fmt.Errorf("jules sources.get: %q is not a source name (sources/...)", name)
		}
	}
	return name, nil
}

// callSpec is one API method call.
type callSpec struct {
	op       string // the API method, e.g. "sessions.create"
	resource string // the resource concerned, e.g. "sessions/123"
	method   string
	path     string // relative to the base, no leading slash
	query    url.Values
	body     []byte
}

// call makes one API call, with retries, inside a GenAI client span.
func (c *Client) call(ctx context.Context, cs callSpec, out any) (err error) {
	ctx, span := telemetry.StartGenAI(ctx, c.tracer,
		telemetry.GenAICall{Operation: telemetry.OperationInvokeAgent, Provider: telemetry.ProviderJules},
		attribute.String("gen_ai.agent.name", "jules"),
		attribute.String("jules.method", cs.op),
		attribute.String("http.request.method", cs.method),
		attribute.String("server.address", c.base.Hostname()),
	)
	span.SetName(telemetry.OperationInvokeAgent + " jules " + cs.op)
	if strings.HasPrefix(cs.resource, "sessions/") {
		span.SetAttributes(attribute.String("gen_ai.conversation.id", strings.SplitN(strings.TrimPrefix(cs.resource, "sessions/"), "/", 2)[0]))
	}
	defer func() {
		if err != nil {
			telemetry.SetGenAIError(span, errorType(err), err)
		}
		span.End()
	}()

	key, err := c.cfg.Key.APIKey(ctx)
	if err != nil {
		return fmt.Errorf("jules %s: %w: %v", cs.op, ErrNoKey, err)
	}
	if key == "" {
		return fmt.Errorf("jules %s: %w: the key source returned an empty key", cs.op, ErrNoKey)
	}
	target := *c.base
	target.Path = c.base.Path + "/" + cs.path
	target.RawQuery = cs.query.Encode()

	for attempt := 1; ; attempt++ {
		status, retryAfter, err := c.attempt(ctx, cs, target.String(), key, out)
		span.SetAttributes(attribute.Int("http.response.status_code", status), attribute.Int("jules.attempts", attempt))
		if err == nil {
			return nil
		}
		var apiErr *APIError
		retryable := errors.As(err, &apiErr) && (status == http.StatusTooManyRequests || status >= 500)
		if !retryable && status == 0 && cs.method == http.MethodGet && ctx.Err() == nil {
			retryable = true // a transport failure of a read: nothing changed at Jules
		}
		if apiErr != nil {
			apiErr.Attempts = attempt
		}
		if !retryable || attempt >= c.cfg.MaxAttempts {
			c.log.Warn("jules call failed", "method", cs.op, "resource", cs.resource, "status", status, "attempts", attempt, "err", err)
			return err
		}
		delay := c.backoff(attempt)
		if retryAfter > 0 {
			if retryAfter > c.cfg.MaxRetryAfter {
				c.log.Warn("jules asked to wait longer than the client waits", "method", cs.op, "retry_after", retryAfter)
				return err
			}
			delay = retryAfter
		}
		span.AddEvent("retry", trace.WithAttributes(attribute.Int("attempt", attempt), attribute.Int("http.response.status_code", status),
			attribute.String("delay", delay.String())))
		c.log.Info("retrying jules call", "method", cs.op, "resource", cs.resource, "status", status, "attempt", attempt, "delay", delay)
		if serr := c.cfg.Sleep(ctx, delay); serr != nil {
			return fmt.Errorf("jules %s: %w (while waiting to retry after: %v)", cs.op, serr, err)
		}
	}
}

// attempt makes one request. It returns the HTTP status (0 when none came back) and the
// Retry-After the server asked for.
func (c *Client) attempt(ctx context.Context, cs callSpec, target, key string, out any) (int, time.Duration, error) {
	var body io.Reader
	if cs.body != nil {
		body = bytes.NewReader(cs.body)
	}
	req, err := http.NewRequestWithContext(ctx, cs.method, target, body)
	if err != nil {
		return 0, 0, fmt.Errorf("jules %s: build request: %w", cs.op, err)
	}
	req.Header.Set(apiKeyHeader, key)
	req.Header.Set("Accept", "application/json")
	if cs.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, 0, fmt.Errorf("jules %s: %w", cs.op, ctx.Err())
		}
		// The transport error names the URL, never the header; scrub all the same.
		return 0, 0, fmt.Errorf("jules %s: %s", cs.op, scrub(err.Error(), key))
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return resp.StatusCode, 0, fmt.Errorf("jules %s: read the answer: %s", cs.op, scrub(err.Error(), key))
	}
	if len(data) > maxResponseBody {
		return resp.StatusCode, 0, fmt.Errorf("jules %s: the answer is over %d bytes", cs.op, maxResponseBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		apiErr := &APIError{Op: cs.op, Resource: cs.resource, StatusCode: resp.StatusCode}
		apiErr.Status, apiErr.Message = parseErrorBody(data)
		apiErr.Message = scrub(apiErr.Message, key)
		apiErr.Status = scrub(apiErr.Status, key)
		apiErr.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		return resp.StatusCode, apiErr.RetryAfter, apiErr
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, 0, fmt.Errorf("jules %s: the answer is not the expected JSON: %w", cs.op, err)
		}
	}
	return resp.StatusCode, 0, nil
}

// backoff is the jittered delay before retry number attempt (from 1).
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.BaseBackoff
	for i := 1; i < attempt && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return c.cfg.Jitter(min(d, c.cfg.MaxBackoff))
}

// googleError is the Google API error body.
type googleError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

// parseErrorBody returns the status and message of an error answer: the Google error JSON, or
// the start of whatever else came back.
func parseErrorBody(data []byte) (status, message string) {
	var ge googleError
	if json.Unmarshal(data, &ge) == nil && (ge.Error.Message != "" || ge.Error.Status != "") {
		return ge.Error.Status, truncate(ge.Error.Message, 512)
	}
	return "", truncate(strings.TrimSpace(string(data)), 256)
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if secs, err := strconv.Atoi(h); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// scrub removes the key from s.
func scrub(s, key string) string {
	if key == "" {
		return s
	}
	return strings.ReplaceAll(s, key, "[redacted]")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
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
