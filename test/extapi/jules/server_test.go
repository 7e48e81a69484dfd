package jules

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The server's answers to raw requests that the hub's client never makes.
func TestRawRequests(t *testing.T) {
	srv := Start(Options{APIKey: "good", DeniedKeys: []string{"denied"}})
	t.Cleanup(srv.Close)
	do := func(method, path, key, body string) (int, string) {
		req, err := http.NewRequest(method, srv.BaseURL()+path, strings.NewReader(body))
		require.NoError(t, err)
		if key != "" {
			req.Header.Set("X-Goog-Api-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	good := `{"prompt":"p","sourceContext":{"source":"sources/github/acme/shop"}}`
	tests := []struct {
		name, method, path, key, body string
		status                        int
		says                          string
	}{
		{"no key", "GET", "/sources", "", "", 401, "UNAUTHENTICATED"},
		{"key in the query is not accepted", "GET", "/sources?key=good", "", "", 401, "UNAUTHENTICATED"},
		{"denied key", "GET", "/sources", "denied", "", 403, "PERMISSION_DENIED"},
		{"unknown field", "POST", "/sessions", "good", `{"prompt":"p","sourceContext":{"source":"sources/github/acme/shop"},"model":"x"}`, 400, "unknown field"},
		{"not JSON", "POST", "/sessions", "good", `prompt=p`, 400, "Invalid JSON payload"},
		{"no prompt", "POST", "/sessions", "good", `{"sourceContext":{"source":"sources/github/acme/shop"}}`, 400, "prompt is required"},
		{"no source", "POST", "/sessions", "good", `{"prompt":"p"}`, 400, "source_context.source"},
		{"negative page size", "GET", "/sessions?pageSize=-1", "good", "", 400, "page_size"},
		{"token of another collection", "GET", "/sessions?pageToken=" + token("sources", 0), "good", "", 400, "page_token"},
		{"unknown route", "GET", "/operations", "good", "", 404, "NOT_FOUND"},
		{"unknown session", "GET", "/sessions/42", "good", "", 404, "sessions/42"},
		{"created", "POST", "/sessions", "good", good, 200, `"state":"QUEUED"`},
		{"approvePlan with a body", "POST", "/sessions/1000001:approvePlan", "good", `{"planId":"x"}`, 400, "unknown field"},
		{"approvePlan while queued", "POST", "/sessions/1000001:approvePlan", "good", "", 400, "FAILED_PRECONDITION"},
		{"empty message", "POST", "/sessions/1000001:sendMessage", "good", `{"prompt":""}`, 400, "prompt is required"},
		{"unknown activity", "GET", "/sessions/1000001/activities/nope", "good", "", 404, "NOT_FOUND"},
	}
	for _, tt := range tests {
		status, body := do(tt.method, tt.path, tt.key, tt.body)
		assert.Equal(t, tt.status, status, tt.name)
		assert.Contains(t, body, tt.says, tt.name)
	}
	// Every request was recorded with what was answered.
	reqs := srv.Requests()
	require.Len(t, reqs, len(tests))
	assert.Equal(t, 401, reqs[0].Status)

	// Without requirePlanApproval the system approves the plan and the session runs to its end;
	// a finished session does not move.
	state, err := srv.StepUntilWaiting("1000001")
	require.NoError(t, err)
	assert.Equal(t, "COMPLETED", state)
	_, err = srv.Step("1000001")
	require.ErrorContains(t, err, "does not move on its own")
	status, body := do("GET", "/sessions/1000001/activities", "good", "")
	require.Equal(t, 200, status)
	for _, kind := range []string{"progressUpdated", "planGenerated", "planApproved", "bashOutput", "gitPatch", "sessionCompleted"} {
		assert.Contains(t, body, `"`+kind+`"`)
	}
}
