package openai

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func post(t *testing.T, url, key, contentType, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "body %s", raw)
	return resp.StatusCode, out, resp.Header
}

func errorOf(body map[string]any) map[string]any {
	e, _ := body["error"].(map[string]any)
	return e
}

const okBody = `{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there"}],"max_completion_tokens":50,
"response_format":{"type":"json_schema","json_schema":{"name":"a","strict":true,"schema":{"type":"object","additionalProperties":false,"required":["x"],"properties":{"x":{"type":"string"}}}}}}`

func TestServerAnswers(t *testing.T) {
	s := Start(Config{APIKey: "sk-test-0123456789abcdef", Models: []string{"m"}})
	t.Cleanup(s.Close)
	url := s.URL + "/v1/chat/completions"
	s.Script(JSON(map[string]string{"x": "y"}), Truncated(`{"x":"abcdef"}`))

	status, body, hdr := post(t, url, "sk-test-0123456789abcdef", "application/json", okBody)
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, "chat.completion", body["object"])
	assert.Equal(t, "m", body["model"])
	assert.NotEmpty(t, hdr.Get("X-Request-Id"))
	choice := body["choices"].([]any)[0].(map[string]any)
	assert.Equal(t, "stop", choice["finish_reason"])
	assert.Equal(t, `{"x":"y"}`, choice["message"].(map[string]any)["content"])
	usage := body["usage"].(map[string]any)
	assert.Equal(t, float64(3+2+3+3), usage["prompt_tokens"], "3 per message plus a token per 4 characters")
	assert.Equal(t, float64(3), usage["completion_tokens"])
	assert.Equal(t, float64(14), usage["total_tokens"])

	_, body, _ = post(t, url, "sk-test-0123456789abcdef", "application/json", okBody)
	choice = body["choices"].([]any)[0].(map[string]any)
	assert.Equal(t, "length", choice["finish_reason"])
	assert.Equal(t, `{"x":"a`, choice["message"].(map[string]any)["content"])
	assert.Equal(t, float64(50), body["usage"].(map[string]any)["completion_tokens"], "cut off at max_completion_tokens")

	status, body, _ = post(t, url, "sk-test-0123456789abcdef", "application/json", okBody)
	assert.Equal(t, http.StatusInternalServerError, status, "nothing scripted")
	assert.Equal(t, "test server: no scripted reply", errorOf(body)["message"])
	assert.Len(t, s.Requests(), 3)
}

func TestServerRefuses(t *testing.T) {
	s := Start(Config{APIKey: "sk-test-0123456789abcdef", Models: []string{"m"}})
	t.Cleanup(s.Close)
	url := s.URL + "/v1/chat/completions"
	tests := []struct {
		name, url, key, ct, body string
		status                   int
		code, msg                string
	}{
		{"no key", url, "", "application/json", okBody, 401, "", "You didn't provide an API key"},
		{"wrong key", url, "sk-wrong-key-000000000000", "application/json", okBody, 401, "invalid_api_key", "Incorrect API key provided: sk-wrong*************0000."},
		{"unknown path", s.URL + "/v1/completions", "", "application/json", okBody, 404, "", "Invalid URL"},
		{"not json", url, "sk-test-0123456789abcdef", "text/plain", okBody, 400, "", "Unsupported content type"},
		{"broken body", url, "sk-test-0123456789abcdef", "application/json", `{"model":`, 400, "", "could not parse the JSON body"},
		{"unknown argument", url, "sk-test-0123456789abcdef", "application/json", `{"model":"m","messages":[{"role":"user","content":"x"}],"bogus":1}`, 400, "", "Unrecognized request argument supplied: bogus"},
		{"no model", url, "sk-test-0123456789abcdef", "application/json", `{"messages":[{"role":"user","content":"x"}]}`, 400, "", "you must provide a model parameter"},
		{"bad role", url, "sk-test-0123456789abcdef", "application/json", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, 400, "", "'robot' is not one of"},
		{"temperature", url, "sk-test-0123456789abcdef", "application/json", `{"model":"m","temperature":3,"messages":[{"role":"user","content":"x"}]}`, 400, "", "maximum of 2"},
		{"schema name", url, "sk-test-0123456789abcdef", "application/json", `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"a b","schema":{"type":"object"}}}}`, 400, "", "does not match pattern"},
		{"strict without additionalProperties", url, "sk-test-0123456789abcdef", "application/json", `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"a","strict":true,"schema":{"type":"object","properties":{"x":{"type":"string"}},"required":["x"]}}}}`, 400, "", "'additionalProperties' is required to be supplied and to be false"},
		{"strict with an optional field", url, "sk-test-0123456789abcdef", "application/json", `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"a","strict":true,"schema":{"type":"object","additionalProperties":false,"properties":{"x":{"type":"string"}}}}}}`, 400, "", "Missing 'x'"},
		{"unknown model", url, "sk-test-0123456789abcdef", "application/json", `{"model":"other","messages":[{"role":"user","content":"x"}]}`, 404, "model_not_found", "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := post(t, tt.url, tt.key, tt.ct, tt.body)
			assert.Equal(t, tt.status, status)
			e := errorOf(body)
			require.NotNil(t, e, "an error object")
			assert.Contains(t, e["message"], tt.msg)
			if tt.code != "" {
				assert.Equal(t, tt.code, e["code"])
			}
		})
	}
	for _, r := range s.Requests() {
		assert.Nil(t, r.Chat, "a refused request is recorded undecoded")
		assert.NotEqual(t, http.StatusOK, r.Status)
	}
	assert.Zero(t, s.Pending())
}

func TestServerInjectsAndRotates(t *testing.T) {
	s := Start(Config{APIKey: "old-key-0123456789"})
	t.Cleanup(s.Close)
	url := s.URL + "/v1/chat/completions"
	s.Script(RateLimited("2"), QuotaExceeded(), ServerError(), Refused("I can't help with that."),
		Reply{ToolCall: "lookup"}, Reply{Status: 502, RawBody: "<html>bad gateway</html>"})

	status, body, hdr := post(t, url, "old-key-0123456789", "application/json", okBody)
	assert.Equal(t, 429, status)
	assert.Equal(t, "2", hdr.Get("Retry-After"))
	assert.Equal(t, "rate_limit_exceeded", errorOf(body)["code"])
	_, body, _ = post(t, url, "old-key-0123456789", "application/json", okBody)
	assert.Equal(t, "insufficient_quota", errorOf(body)["type"])
	status, body, _ = post(t, url, "old-key-0123456789", "application/json", okBody)
	assert.Equal(t, 500, status)
	assert.Equal(t, "server_error", errorOf(body)["type"])
	_, body, _ = post(t, url, "old-key-0123456789", "application/json", okBody)
	msg := body["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
	assert.Nil(t, msg["content"])
	assert.Equal(t, "I can't help with that.", msg["refusal"])
	_, body, _ = post(t, url, "old-key-0123456789", "application/json", okBody)
	choice := body["choices"].([]any)[0].(map[string]any)
	assert.Equal(t, "tool_calls", choice["finish_reason"])
	assert.Len(t, choice["message"].(map[string]any)["tool_calls"], 1)

	resp, err := http.Post(url, "application/json", strings.NewReader(okBody))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 401, resp.StatusCode, "no key")

	s.SetAPIKey("new-key-0123456789")
	status, _, _ = post(t, url, "old-key-0123456789", "application/json", okBody)
	assert.Equal(t, 401, status, "the rotated-out key is refused")
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(okBody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer new-key-0123456789")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 502, resp.StatusCode)
	assert.Equal(t, "<html>bad gateway</html>", string(raw))
}
