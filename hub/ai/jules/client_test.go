package jules_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kubedevaiops/kubedevaiops/hub/ai/jules"
	"github.com/kubedevaiops/kubedevaiops/hub/telemetry"
	julesserver "github.com/kubedevaiops/kubedevaiops/test/extapi/jules"
)

// testKey is a recognisable key: the leak checks search for it everywhere.
const testKey = "AIzaSyLEAKCHECK-0123456789abcdefghij"

// harness is a client of a local Jules server, with everything it logs, traces and waits kept.
type harness struct {
	srv    *julesserver.Server
	client *jules.Client
	logs   *syncBuffer
	spans  *tracetest.SpanRecorder
	mu     sync.Mutex
	sleeps []time.Duration
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHarness(t *testing.T, opts julesserver.Options, key string, mod ...func(*jules.Config)) *harness {
	t.Helper()
	if opts.APIKey == "" {
		opts.APIKey = testKey
	}
	srv := julesserver.Start(opts)
	t.Cleanup(srv.Close)
	h := &harness{srv: srv, logs: &syncBuffer{}, spans: tracetest.NewSpanRecorder()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	cfg := jules.Config{
		BaseURL: srv.BaseURL(),
		Key:     jules.KeyFunc(func(context.Context) (string, error) { return key, nil }),
		Tracer:  tp.Tracer("jules-test"),
		Logger:  slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Sleep: func(_ context.Context, d time.Duration) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.sleeps = append(h.sleeps, d)
			return nil
		},
		Jitter: func(d time.Duration) time.Duration { return d },
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := jules.New(cfg)
	require.NoError(t, err)
	h.client = c
	return h
}

func (h *harness) waited() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.sleeps...)
}

func manySources(n int) []julesserver.Source {
	var out []julesserver.Source
	for i := range n {
		out = append(out, julesserver.Source{Owner: "acme", Repo: fmt.Sprintf("svc-%02d", i), Branches: []string{"main", "develop"}})
	}
	return out
}

func newSession(source string) *jules.Session {
	return &jules.Session{
		Prompt: "Add a Dockerfile, Kubernetes manifests and a CI pipeline", Title: "onboard",
		SourceContext:       &jules.SourceContext{Source: source, GitHubRepoContext: &jules.GitHubRepoContext{StartingBranch: "main"}},
		RequirePlanApproval: true, AutomationMode: jules.AutoCreatePR,
	}
}

func TestSources(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, julesserver.Options{Sources: manySources(7)}, testKey)

	p1, err := h.client.ListSources(ctx, jules.ListOptions{PageSize: 3})
	require.NoError(t, err)
	require.Len(t, p1.Sources, 3)
	require.NotEmpty(t, p1.NextPageToken)
	assert.Equal(t, "sources/github/acme/svc-00", p1.Sources[0].Name)
	assert.Equal(t, "main", p1.Sources[0].GitHubRepo.DefaultBranch.DisplayName)
	p2, err := h.client.ListSources(ctx, jules.ListOptions{PageSize: 3, PageToken: p1.NextPageToken})
	require.NoError(t, err)
	assert.Equal(t, "sources/github/acme/svc-03", p2.Sources[0].Name)

	all, err := h.client.AllSources(ctx)
	require.NoError(t, err)
	require.Len(t, all, 7)
	assert.Equal(t, "svc-06", all[6].GitHubRepo.Repo)

	filtered, err := h.client.ListSources(ctx, jules.ListOptions{Filter: "name=sources/github/acme/svc-02 OR name=sources/github/acme/svc-05"})
	require.NoError(t, err)
	require.Len(t, filtered.Sources, 2)

	src, err := h.client.GetSource(ctx, "sources/github/acme/svc-04")
	require.NoError(t, err)
	assert.Equal(t, "svc-04", src.GitHubRepo.Repo)
	assert.Len(t, src.GitHubRepo.Branches, 2)

	found, err := h.client.FindSource(ctx, "https://github.com/acme/svc-05.git")
	require.NoError(t, err)
	assert.Equal(t, "sources/github/acme/svc-05", found.Name)
	_, err = h.client.FindSource(ctx, "git@github.com:acme/unknown.git")
	require.ErrorIs(t, err, jules.ErrNotFound)
	assert.Contains(t, err.Error(), "acme/unknown")
}

func TestSessionLifecycle(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, julesserver.Options{}, testKey)

	s, err := h.client.CreateSession(ctx, newSession("sources/github/acme/shop"))
	require.NoError(t, err)
	assert.Equal(t, jules.StateQueued, s.State)
	require.True(t, strings.HasPrefix(s.Name, "sessions/"), s.Name)
	assert.Equal(t, "sessions/"+s.ID, s.Name)
	assert.NotEmpty(t, s.URL)

	got, err := h.client.GetSession(ctx, s.ID) // by id as well as by name
	require.NoError(t, err)
	assert.Equal(t, s.Name, got.Name)
	assert.Equal(t, "onboard", got.Title)

	state, err := h.srv.StepUntilWaiting(s.ID)
	require.NoError(t, err)
	require.Equal(t, "AWAITING_PLAN_APPROVAL", state)
	got, err = h.client.GetSession(ctx, s.Name)
	require.NoError(t, err)
	assert.Equal(t, jules.StateAwaitingPlanApproval, got.State)

	require.NoError(t, h.client.ApprovePlan(ctx, s.Name))
	got, err = h.client.GetSession(ctx, s.Name)
	require.NoError(t, err)
	assert.Equal(t, jules.StateInProgress, got.State)
	// A second approval has nothing to approve.
	err = h.client.ApprovePlan(ctx, s.Name)
	require.ErrorIs(t, err, jules.ErrBadRequest)
	assert.Contains(t, err.Error(), "FAILED_PRECONDITION")

	state, err = h.srv.StepUntilWaiting(s.ID)
	require.NoError(t, err)
	require.Equal(t, "COMPLETED", state)
	got, err = h.client.GetSession(ctx, s.Name)
	require.NoError(t, err)
	assert.True(t, got.State.Final())
	require.NotNil(t, got.PullRequest())
	assert.Contains(t, got.PullRequest().URL, "github.com/acme/shop/pull/")

	// Activities, one per page, oldest first.
	var acts []jules.Activity
	opts := jules.ListOptions{PageSize: 1}
	for {
		page, err := h.client.ListActivities(ctx, s.Name, opts)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page.Activities), 1)
		acts = append(acts, page.Activities...)
		if page.NextPageToken == "" {
			break
		}
		opts.PageToken = page.NextPageToken
	}
	require.Equal(t, h.srv.ActivityCount(s.ID), len(acts))
	var kinds []jules.ActivityKind
	var patch *jules.GitPatch
	var bash *jules.BashOutput
	for _, a := range acts {
		kinds = append(kinds, a.Kind())
		assert.True(t, strings.HasPrefix(a.Name, s.Name+"/activities/"), a.Name)
		for _, art := range a.Artifacts {
			if art.ChangeSet != nil {
				patch = art.ChangeSet.GitPatch
			}
			if art.BashOutput != nil {
				bash = art.BashOutput
			}
		}
	}
	assert.Equal(t, []jules.ActivityKind{jules.KindProgressUpdated, jules.KindPlanGenerated, jules.KindPlanApproved,
		jules.KindProgressUpdated, jules.KindProgressUpdated, jules.KindSessionCompleted}, kinds)
	require.NotNil(t, acts[1].PlanGenerated.Plan)
	assert.Len(t, acts[1].PlanGenerated.Plan.Steps, 4)
	assert.Equal(t, acts[1].PlanGenerated.Plan.ID, acts[2].PlanApproved.PlanID)
	assert.Equal(t, "user", acts[2].Originator)
	require.NotNil(t, bash)
	assert.Equal(t, "go test ./...", bash.Command)
	require.NotNil(t, patch)
	assert.Contains(t, patch.UnidiffPatch, "+++ b/Dockerfile")
	assert.NotEmpty(t, patch.BaseCommitID)
	assert.NotEmpty(t, patch.SuggestedCommitMessage)

	one, err := h.client.GetActivity(ctx, acts[1].Name)
	require.NoError(t, err)
	assert.Equal(t, acts[1].ID, one.ID)

	// Sending to a finished session is refused.
	err = h.client.SendMessage(ctx, s.Name, "thanks")
	require.ErrorIs(t, err, jules.ErrBadRequest)
}

func TestSendMessageAnswersFeedback(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, julesserver.Options{ScenarioFor: func(string) julesserver.Scenario { return julesserver.Feedback }}, testKey)
	s, err := h.client.CreateSession(ctx, newSession("sources/github/acme/shop"))
	require.NoError(t, err)
	state, err := h.srv.StepUntilWaiting(s.ID)
	require.NoError(t, err)
	require.Equal(t, "AWAITING_USER_FEEDBACK", state)
	page, err := h.client.ListActivities(ctx, s.Name, jules.ListOptions{})
	require.NoError(t, err)
	last := page.Activities[len(page.Activities)-1]
	require.Equal(t, jules.KindAgentMessaged, last.Kind())
	assert.Contains(t, last.AgentMessaged.AgentMessage, "port")

	require.NoError(t, h.client.SendMessage(ctx, s.Name, "It listens on 8080."))
	got, err := h.client.GetSession(ctx, s.Name)
	require.NoError(t, err)
	assert.Equal(t, jules.StatePlanning, got.State)
	page, err = h.client.ListActivities(ctx, s.Name, jules.ListOptions{})
	require.NoError(t, err)
	last = page.Activities[len(page.Activities)-1]
	require.Equal(t, jules.KindUserMessaged, last.Kind())
	assert.Equal(t, "It listens on 8080.", last.UserMessaged.UserMessage)
	state, err = h.srv.StepUntilWaiting(s.ID)
	require.NoError(t, err)
	assert.Equal(t, "AWAITING_PLAN_APPROVAL", state)
}

func TestListSessionsPages(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, julesserver.Options{}, testKey)
	var names []string
	for range 5 {
		s, err := h.client.CreateSession(ctx, newSession("sources/github/acme/shop"))
		require.NoError(t, err)
		names = append(names, s.Name)
	}
	var listed []string
	opts := jules.ListOptions{PageSize: 2}
	pages := 0
	for {
		page, err := h.client.ListSessions(ctx, opts)
		require.NoError(t, err)
		pages++
		for _, s := range page.Sessions {
			listed = append(listed, s.Name)
		}
		if page.NextPageToken == "" {
			break
		}
		opts.PageToken = page.NextPageToken
	}
	assert.Equal(t, 3, pages)
	assert.ElementsMatch(t, names, listed)
	assert.Equal(t, names[4], listed[0], "newest first")
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	const denied = "AIzaDENIED-key-without-jules-access"
	tests := []struct {
		name     string
		key      string
		call     func(c *jules.Client) error
		sentinel error
		status   int
		says     string
	}{
		{"unknown key", "AIza-not-a-key-of-this-project", func(c *jules.Client) error { _, err := c.ListSources(ctx, jules.ListOptions{}); return err },
			jules.ErrUnauthenticated, 401, "check the Jules API key"},
		{"key without access", denied, func(c *jules.Client) error { _, err := c.GetSession(ctx, "sessions/1"); return err },
			jules.ErrPermissionDenied, 403, "lacks access"},
		{"unknown session", testKey, func(c *jules.Client) error { _, err := c.GetSession(ctx, "sessions/424242"); return err },
			jules.ErrNotFound, 404, "sessions/424242 does not exist"},
		{"unknown source", testKey, func(c *jules.Client) error {
			_, err := c.CreateSession(ctx, newSession("sources/github/acme/nope"))
			return err
		},
			jules.ErrBadRequest, 400, "not connected"},
		{"unknown branch", testKey, func(c *jules.Client) error {
			s := newSession("sources/github/acme/shop")
			s.SourceContext.GitHubRepoContext.StartingBranch = "release-9"
			_, err := c.CreateSession(ctx, s)
			return err
		}, jules.ErrBadRequest, 400, "release-9"},
		{"bad automation mode", testKey, func(c *jules.Client) error {
			s := newSession("sources/github/acme/shop")
			s.AutomationMode = "AUTO_MERGE"
			_, err := c.CreateSession(ctx, s)
			return err
		}, jules.ErrBadRequest, 400, "automation_mode"},
		{"bad page token", testKey, func(c *jules.Client) error {
			_, err := c.ListSessions(ctx, jules.ListOptions{PageToken: "bm90LWEtdG9rZW4"})
			return err
		}, jules.ErrBadRequest, 400, "page_token"},
		{"approve unknown session", testKey, func(c *jules.Client) error { return c.ApprovePlan(ctx, "sessions/77") }, jules.ErrNotFound, 404, "sessions/77"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, julesserver.Options{DeniedKeys: []string{denied}}, tt.key)
			err := tt.call(h.client)
			require.ErrorIs(t, err, tt.sentinel)
			var apiErr *jules.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tt.status, apiErr.StatusCode)
			assert.Equal(t, 1, apiErr.Attempts, "not retried")
			assert.Contains(t, err.Error(), tt.says)
			assert.NotContains(t, err.Error(), tt.key)
			assert.Empty(t, h.waited())
		})
	}

	// Refused locally, before any request.
	h := newHarness(t, julesserver.Options{}, testKey)
	_, err := h.client.CreateSession(ctx, &jules.Session{Prompt: " ", SourceContext: &jules.SourceContext{Source: "sources/x"}})
	require.ErrorContains(t, err, "prompt is empty")
	_, err = h.client.GetSession(ctx, "sessions/../sources")
	require.ErrorContains(t, err, "not a session name")
	require.Empty(t, h.srv.Requests())

	// An empty key, or a failing key source, is a clear error and no request.
	noKey, err := jules.New(jules.Config{BaseURL: h.srv.BaseURL(), Key: jules.KeyFunc(func(context.Context) (string, error) {
		return "", errors.New("vault: permission denied")
	})})
	require.NoError(t, err)
	_, err = noKey.ListSources(ctx, jules.ListOptions{})
	require.ErrorIs(t, err, jules.ErrNoKey)
	assert.Contains(t, err.Error(), "vault: permission denied")
	require.Empty(t, h.srv.Requests())
}

func TestRetries(t *testing.T) {
	ctx := context.Background()

	t.Run("429 honours Retry-After", func(t *testing.T) {
		h := newHarness(t, julesserver.Options{}, testKey)
		h.srv.InjectFault(julesserver.Fault{Method: http.MethodGet, PathPrefix: "sources", Status: 429, RetryAfter: "7", Times: 2})
		page, err := h.client.ListSources(ctx, jules.ListOptions{})
		require.NoError(t, err)
		assert.Len(t, page.Sources, 1)
		assert.Equal(t, []time.Duration{7 * time.Second, 7 * time.Second}, h.waited())
		assert.Len(t, h.srv.Requests(), 3)
	})

	t.Run("429 with an HTTP-date Retry-After", func(t *testing.T) {
		h := newHarness(t, julesserver.Options{}, testKey)
		h.srv.InjectFault(julesserver.Fault{Status: 429, RetryAfter: time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)})
		_, err := h.client.ListSources(ctx, jules.ListOptions{})
		require.NoError(t, err)
		require.Len(t, h.waited(), 1)
		assert.Greater(t, h.waited()[0], 60*time.Second)
		assert.LessOrEqual(t, h.waited()[0], 90*time.Second)
	})

	t.Run("429 asking too long a wait ends the call", func(t *testing.T) {
		h := newHarness(t, julesserver.Options{}, testKey)
		h.srv.InjectFault(julesserver.Fault{Status: 429, RetryAfter: "3600"})
		_, err := h.client.ListSources(ctx, jules.ListOptions{})
		require.ErrorIs(t, err, jules.ErrRateLimited)
		var apiErr *jules.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, time.Hour, apiErr.RetryAfter)
		assert.Empty(t, h.waited())
	})

	t.Run("500 then success creates one session", func(t *testing.T) {
		h := newHarness(t, julesserver.Options{}, testKey)
		h.srv.InjectFault(julesserver.Fault{Method: http.MethodPost, PathPrefix: "sessions", Status: 500})
		s, err := h.client.CreateSession(ctx, newSession("sources/github/acme/shop"))
		require.NoError(t, err)
		assert.Equal(t, jules.StateQueued, s.State)
		assert.Len(t, h.srv.SessionIDs(), 1)
		assert.Equal(t, []time.Duration{500 * time.Millisecond}, h.waited(), "the first backoff")
		reqs := h.srv.Requests()
		require.Len(t, reqs, 2)
		assert.Equal(t, 500, reqs[0].Status)
		assert.Equal(t, reqs[0].Body, reqs[1].Body, "the retry resends the same body")
	})

	t.Run("5xx exhausted: exponential, capped, bounded", func(t *testing.T) {
		h := newHarness(t, julesserver.Options{}, testKey, func(c *jules.Config) {
			c.MaxAttempts, c.BaseBackoff, c.MaxBackoff = 6, time.Second, 5*time.Second
		})
		h.srv.InjectFault(julesserver.Fault{Status: 503, Times: 10})
		_, err := h.client.ListSessions(ctx, jules.ListOptions{})
		require.ErrorIs(t, err, jules.ErrUnavailable)
		var apiErr *jules.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, 6, apiErr.Attempts)
		assert.Contains(t, err.Error(), "after 6 attempts")
		assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}, h.waited())
		assert.Len(t, h.srv.Requests(), 6)
	})

	t.Run("429 exhausted", func(t *testing.T) {
		h := newHarness(t, julesserver.Options{}, testKey, func(c *jules.Config) { c.MaxAttempts = 3 })
		h.srv.InjectFault(julesserver.Fault{Status: 429, Times: 5})
		err := h.client.ApprovePlan(ctx, "sessions/1")
		require.ErrorIs(t, err, jules.ErrRateLimited)
		assert.Len(t, h.waited(), 2)
	})

	t.Run("a cancelled wait ends the call", func(t *testing.T) {
		h := newHarness(t, julesserver.Options{}, testKey, func(c *jules.Config) {
			c.Sleep = func(context.Context, time.Duration) error { return context.Canceled }
		})
		h.srv.InjectFault(julesserver.Fault{Status: 500})
		_, err := h.client.ListSessions(ctx, jules.ListOptions{})
		require.ErrorIs(t, err, context.Canceled)
		assert.Len(t, h.srv.Requests(), 1)
	})

	t.Run("the default jitter stays within [d/2, d]", func(t *testing.T) {
		h := newHarness(t, julesserver.Options{}, testKey, func(c *jules.Config) {
			c.Jitter, c.MaxAttempts, c.BaseBackoff = nil, 4, 400*time.Millisecond
		})
		h.srv.InjectFault(julesserver.Fault{Status: 502, Times: 3})
		_, err := h.client.ListSources(ctx, jules.ListOptions{})
		require.NoError(t, err)
		w := h.waited()
		require.Len(t, w, 3)
		for i, d := range w {
			full := 400 * time.Millisecond << i
			assert.GreaterOrEqual(t, d, full/2)
			assert.LessOrEqual(t, d, full)
		}
	})
}

func TestSpans(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, julesserver.Options{}, testKey)
	s, err := h.client.CreateSession(ctx, newSession("sources/github/acme/shop"))
	require.NoError(t, err)
	_, err = h.client.GetSession(ctx, "sessions/999")
	require.Error(t, err)

	spans := h.spans.Ended()
	require.Len(t, spans, 2)
	for _, sp := range spans {
		assert.Equal(t, trace.SpanKindClient, sp.SpanKind())
		attrs := map[string]string{}
		for _, kv := range sp.Attributes() {
			attrs[string(kv.Key)] = kv.Value.Emit()
		}
		assert.Equal(t, telemetry.OperationInvokeAgent, attrs["gen_ai.operation.name"])
		assert.Equal(t, telemetry.ProviderJules, attrs["gen_ai.provider.name"])
	}
	assert.Equal(t, "invoke_agent jules sessions.create", spans[0].Name())
	failed := spans[1]
	assert.Equal(t, "invoke_agent jules sessions.get", failed.Name())
	attrs := map[string]string{}
	for _, kv := range failed.Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	assert.Equal(t, "404", attrs["error.type"])
	assert.Equal(t, "999", attrs["gen_ai.conversation.id"])
	assert.NotEmpty(t, s.ID)
}

// TestKeyNeverLeaks runs every call, successful and failing, and searches the errors, logs,
// spans and requests for the key: it is only ever in the X-Goog-Api-Key header.
func TestKeyNeverLeaks(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, julesserver.Options{}, testKey)
	h.srv.InjectFault(julesserver.Fault{Status: 429, RetryAfter: "1"})
	h.srv.InjectFault(julesserver.Fault{Status: 500, PathPrefix: "sessions"})
	var errs []error
	record := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	_, err := h.client.AllSources(ctx)
	record(err)
	s, err := h.client.CreateSession(ctx, newSession("sources/github/acme/shop"))
	require.NoError(t, err)
	_, err = h.srv.StepUntilWaiting(s.ID)
	require.NoError(t, err)
	record(h.client.ApprovePlan(ctx, s.Name))
	record(h.client.ApprovePlan(ctx, s.Name)) // refused
	record(h.client.SendMessage(ctx, s.Name, "go on"))
	_, err = h.client.ListActivities(ctx, s.Name, jules.ListOptions{PageSize: 2})
	record(err)
	_, err = h.client.GetSession(ctx, "sessions/31337")
	record(err)
	_, err = h.client.ListSessions(ctx, jules.ListOptions{PageToken: "garbage"})
	record(err)
	require.Len(t, errs, 3)

	// A server that echoes the key back in its error is scrubbed too.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"error":{"code":400,"message":"bad key %s","status":"INVALID_ARGUMENT"}}`, r.Header.Get("X-Goog-Api-Key"))
	}))
	defer echo.Close()
	ec, err := jules.New(jules.Config{BaseURL: echo.URL + "/v1alpha", Key: jules.KeyFunc(func(context.Context) (string, error) { return testKey, nil })})
	require.NoError(t, err)
	_, err = ec.ListSources(ctx, jules.ListOptions{})
	require.ErrorIs(t, err, jules.ErrBadRequest)
	assert.Contains(t, err.Error(), "bad key [redacted]")
	errs = append(errs, err)

	for _, err := range errs {
		assert.NotContains(t, err.Error(), testKey)
		assert.NotContains(t, fmt.Sprintf("%+v %#v", err, err), testKey)
	}
	assert.NotEmpty(t, h.logs.String(), "retries and failures were logged")
	assert.NotContains(t, h.logs.String(), testKey)
	for _, sp := range h.spans.Ended() {
		assert.NotContains(t, sp.Name(), testKey)
		assert.NotContains(t, sp.Status().Description, testKey)
		for _, kv := range sp.Attributes() {
			assert.NotContains(t, kv.Value.Emit(), testKey)
		}
		for _, ev := range sp.Events() {
			for _, kv := range ev.Attributes {
				assert.NotContains(t, kv.Value.Emit(), testKey)
			}
		}
	}
	reqs := h.srv.Requests()
	require.NotEmpty(t, reqs)
	for _, r := range reqs {
		assert.Equal(t, testKey, r.Header.Get("X-Goog-Api-Key"))
		assert.NotContains(t, r.Path+"?"+r.RawQuery, testKey)
		assert.NotContains(t, string(r.Body), testKey)
		for name, vals := range r.Header {
			if http.CanonicalHeaderKey(name) == "X-Goog-Api-Key" {
				continue
			}
			for _, v := range vals {
				assert.NotContains(t, v, testKey, name)
			}
		}
	}
}
