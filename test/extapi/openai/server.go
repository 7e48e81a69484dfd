package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config sets up a Server.
type Config struct {
	// APIKey, when set, is the one key accepted ("Authorization: Bearer <APIKey>"); when empty
	// the server needs no key, as Ollama and a default vLLM do.
	APIKey string
	// Models, when set, are the only models served; others are 404 model_not_found.
	Models []string
}

// Reply is one scripted answer. The zero value answers 200 with an empty content.
type Reply struct {
	// Status of the answer; 0 is 200. Any other status answers an error object.
	Status int
	// Content of choices[0].message.content; null when Refusal or ToolCall is set.
	Content string
	// Refusal, when set, is choices[0].message.refusal.
	Refusal string
	// ToolCall, when set, makes the message a call of a tool of that name.
	ToolCall string
	// FinishReason of the choice; "stop" when empty ("tool_calls" with ToolCall).
	FinishReason string
	// Model answered with; the requested one when empty.
	Model string
	// Usage overrides the counted tokens.
	Usage *Usage
	// RetryAfter and RetryAfterMs are sent as the Retry-After and retry-after-ms headers.
	RetryAfter, RetryAfterMs string
	// ErrType, ErrCode and ErrMessage fill the error object of a non-200 answer.
	ErrType, ErrCode, ErrMessage string
	// RawBody, when set, is sent as the body as it is (an HTML error page, broken JSON).
	RawBody string
	// ContentType of a RawBody; text/html when empty.
	ContentType string
}

// Usage is a completion's token counts.
type Usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

// JSON is a completion whose content is v encoded.
func JSON(v any) Reply {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("test server: JSON reply: %v", err))
	}
	return Reply{Content: string(b)}
}

// Text is a completion with this content as it is (garbage, prose, fenced JSON).
func Text(content string) Reply { return Reply{Content: content} }

// Truncated is a completion cut off at the token limit: the first half of content, with
// finish_reason length.
func Truncated(content string) Reply {
	return Reply{Content: content[:len(content)/2], FinishReason: "length"}
}

// Refused is a completion the model refused.
func Refused(message string) Reply { return Reply{Refusal: message} }

// RateLimited is a 429 rate_limit_exceeded with a Retry-After header (none when empty).
func RateLimited(retryAfter string) Reply {
	return Reply{Status: http.StatusTooManyRequests, RetryAfter: retryAfter, ErrType: "requests", ErrCode: "rate_limit_exceeded",
		ErrMessage: "Rate limit reached for requests. Please try again later."}
}

// QuotaExceeded is the 429 of an account without quota, which waiting does not cure.
func QuotaExceeded() Reply {
	return Reply{Status: http.StatusTooManyRequests, ErrType: "insufficient_quota", ErrCode: "insufficient_quota",
		ErrMessage: "You exceeded your current quota, please check your plan and billing details."}
}

// ServerError is a 500 server_error.
func ServerError() Reply {
	return Reply{Status: http.StatusInternalServerError, ErrType: "server_error",
		ErrMessage: "The server had an error while processing your request. Sorry about that!"}
}

// Request is one request as the server received it.
type Request struct {
	Method, Path string
	Header       http.Header
	Body         []byte
	// Chat is the decoded body when it was valid.
	Chat *ChatRequest
	// Status is what the server answered.
	Status int
}

// ChatRequest is the body of a chat completion request, as the API defines it.
type ChatRequest struct {
	Model               string          `json:"model"`
	Messages            []ChatMessage   `json:"messages"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	N                   *int            `json:"n,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	Stop                json.RawMessage `json:"stop,omitempty"`
	MaxTokens           *int            `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int            `json:"max_completion_tokens,omitempty"`
	PresencePenalty     *float64        `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64        `json:"frequency_penalty,omitempty"`
	Seed                *int64          `json:"seed,omitempty"`
	User                string          `json:"user,omitempty"`
	Store               *bool           `json:"store,omitempty"`
	Metadata            json.RawMessage `json:"metadata,omitempty"`
	ResponseFormat      *ResponseFormat `json:"response_format,omitempty"`
}

// ChatMessage is one message of a request.
type ChatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	Name    string `json:"name,omitempty"`
}

// ResponseFormat is response_format.
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is response_format.json_schema.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// Server is the running server; URL is its base (http://127.0.0.1:port).
type Server struct {
	URL  string
	http *httptest.Server

	mu       sync.Mutex
	key      string
	models   []string
	script   []Reply
	fallback func(ChatRequest) Reply
	requests []Request
	seq      int
}

// Start runs a server on loopback until Close.
func Start(cfg Config) *Server {
	s := &Server{key: cfg.APIKey, models: slices.Clone(cfg.Models)}
	s.http = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.http.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.http.Close() }

// SetAPIKey changes the accepted key, as a rotation at the provider does.
func (s *Server) SetAPIKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key = key
}

// Script queues replies for the next valid requests, in order.
func (s *Server) Script(replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, replies...)
}

// Default answers valid requests once the script is used up; without one such a request is
// answered 500 "no scripted reply", so a test that asks more than it scripted sees it.
func (s *Server) Default(fn func(ChatRequest) Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fallback = fn
}

// Requests returns every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Pending is the number of scripted replies not yet used.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.script)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	rec := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	status := s.handle(w, r, body, &rec)
	rec.Status = status
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
}

// handle answers one request and returns its status.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, body []byte, rec *Request) int {
	s.mu.Lock()
	key, models := s.key, s.models
	s.seq++
	seq := s.seq
	s.mu.Unlock()
	w.Header().Set("X-Request-Id", fmt.Sprintf("req_%06d", seq))

	if r.URL.Path != "/v1/chat/completions" {
		return writeError(w, http.StatusNotFound, "invalid_request_error", "", "", fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path))
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "", "", fmt.Sprintf("Invalid method for URL (%s %s)", r.Method, r.URL.Path))
	}
	if key != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case !ok || got == "":
			return writeError(w, http.StatusUnauthorized, "invalid_request_error", "", "",
				"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
		case got != key:
			return writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "",
				"Incorrect API key provided: "+maskKey(got)+".")
		}
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return writeError(w, http.StatusBadRequest, "invalid_request_error", "", "",
			"Unsupported content type: send the body as application/json.")
	}
	req, param, msg := parseRequest(body)
	if msg != "" {
		return writeError(w, http.StatusBadRequest, "invalid_request_error", "", param, msg)
	}
	if len(models) > 0 && !slices.Contains(models, req.Model) {
		return writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found", "model",
			fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", req.Model))
	}
	rec.Chat = &req

	s.mu.Lock()
	var reply Reply
	switch {
	case len(s.script) > 0:
		reply, s.script = s.script[0], s.script[1:]
	case s.fallback != nil:
		fn := s.fallback
		s.mu.Unlock()
		reply = fn(req)
		s.mu.Lock()
	default:
		reply = Reply{Status: http.StatusInternalServerError, ErrType: "server_error", ErrMessage: "test server: no scripted reply"}
	}
	s.mu.Unlock()
	return writeReply(w, req, reply, seq)
}

var schemaNameRe = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// parseRequest decodes and checks a body as the API does; it returns the offending param and
// a message when the body is refused.
func parseRequest(body []byte) (ChatRequest, string, string) {
	var req ChatRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return req, strings.Trim(field, `"`), "Unrecognized request argument supplied: " + strings.Trim(field, `"`)
		}
		return req, "", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)"
	}
	if dec.More() {
		return req, "", "We could not parse the JSON body of your request: more data after the JSON object."
	}
	switch {
	case req.Model == "":
		return req, "model", "you must provide a model parameter"
	case len(req.Messages) == 0:
		return req, "messages", "[] is too short - 'messages'"
	case req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 2):
		return req, "temperature", fmt.Sprintf("%v is greater than the maximum of 2 - 'temperature'", *req.Temperature)
	case req.N != nil && *req.N != 1:
		return req, "n", "this server answers only n=1"
	case req.Stream:
		return req, "stream", "this server does not stream"
	case req.MaxTokens != nil && *req.MaxTokens < 1, req.MaxCompletionTokens != nil && *req.MaxCompletionTokens < 1:
		return req, "max_tokens", "max_tokens must be at least 1"
	}
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "developer", "user", "assistant", "tool":
		default:
			return req, fmt.Sprintf("messages[%d].role", i), fmt.Sprintf("'%s' is not one of ['system', 'assistant', 'user', 'tool', 'developer'] - 'messages.%d.role'", m.Role, i)
		}
	}
	if f := req.ResponseFormat; f != nil {
		switch f.Type {
		case "text", "json_object":
		case "json_schema":
			if f.JSONSchema == nil {
				return req, "response_format.json_schema", "Missing required parameter: 'response_format.json_schema'."
			}
			if !schemaNameRe.MatchString(f.JSONSchema.Name) {
				return req, "response_format.json_schema.name", "Invalid 'response_format.json_schema.name': string does not match pattern '^[a-zA-Z0-9_-]+$' of at most 64 characters."
			}
			var schema map[string]any
			if err := json.Unmarshal(f.JSONSchema.Schema, &schema); err != nil || schema == nil {
				return req, "response_format.json_schema.schema", "Invalid 'response_format.json_schema.schema': expected an object."
			}
			if f.JSONSchema.Strict != nil && *f.JSONSchema.Strict {
				if msg := strictProblem(schema, "()"); msg != "" {
					return req, "response_format", fmt.Sprintf("Invalid schema for response_format '%s': %s", f.JSONSchema.Name, msg)
				}
			}
		default:
			return req, "response_format.type", fmt.Sprintf("Invalid value: '%s'. Supported values are: 'json_object', 'json_schema', and 'text'.", f.Type)
		}
	}
	return req, "", ""
}

// strictProblem checks the rules strict structured outputs put on a schema: the root is an
// object, and every object sets additionalProperties false and requires all its properties.
func strictProblem(s map[string]any, ctx string) string {
	if ctx == "()" && s["type"] != "object" {
		return "In context=(), schema must be a JSON Schema of 'type: \"object\"'."
	}
	switch s["type"] {
	case "object":
		if ap, ok := s["additionalProperties"].(bool); !ok || ap {
			return fmt.Sprintf("In context=%s, 'additionalProperties' is required to be supplied and to be false.", ctx)
		}
		props, _ := s["properties"].(map[string]any)
		var required []string
		if list, ok := s["required"].([]any); ok {
			for _, r := range list {
				if name, ok := r.(string); ok {
					required = append(required, name)
				}
			}
		}
		names := make([]string, 0, len(props))
		for name := range props {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			if !slices.Contains(required, name) {
				return fmt.Sprintf("In context=%s, 'required' is required to be supplied and to be an array including every key in properties. Missing '%s'.", ctx, name)
			}
			sub, ok := props[name].(map[string]any)
			if !ok {
				return fmt.Sprintf("In context=%s, property '%s' is not a schema.", ctx, name)
			}
			if msg := strictProblem(sub, fmt.Sprintf("('properties', '%s')", name)); msg != "" {
				return msg
			}
		}
	case "array":
		if items, ok := s["items"].(map[string]any); ok {
			return strictProblem(items, "('items')")
		}
	case "string", "number", "integer", "boolean", "null":
	default:
		return fmt.Sprintf("In context=%s, schema must have a 'type' key.", ctx)
	}
	return ""
}

// tokens approximates a tokenizer the way OpenAI's guidance does: about four characters each.
func tokens(s string) int64 { return int64((len(s) + 3) / 4) }

func writeReply(w http.ResponseWriter, req ChatRequest, reply Reply, seq int) int {
	if reply.RetryAfter != "" {
		w.Header().Set("Retry-After", reply.RetryAfter)
	}
	if reply.RetryAfterMs != "" {
		w.Header().Set("Retry-After-Ms", reply.RetryAfterMs)
	}
	status := reply.Status
	if status == 0 {
		status = http.StatusOK
	}
	if reply.RawBody != "" {
		ct := reply.ContentType
		if ct == "" {
			ct = "text/html"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, reply.RawBody)
		return status
	}
	if status != http.StatusOK {
		return writeError(w, status, reply.ErrType, reply.ErrCode, "", reply.ErrMessage)
	}

	model := reply.Model
	if model == "" {
		model = req.Model
	}
	message := map[string]any{"role": "assistant", "content": reply.Content, "refusal": nil}
	finish := reply.FinishReason
	switch {
	case reply.Refusal != "":
		message["content"], message["refusal"] = nil, reply.Refusal
	case reply.ToolCall != "":
		message["content"] = nil
		message["tool_calls"] = []any{map[string]any{"id": fmt.Sprintf("call_%06d", seq), "type": "function",
			"function": map[string]any{"name": reply.ToolCall, "arguments": "{}"}}}
		if finish == "" {
			finish = "tool_calls"
		}
	}
	if finish == "" {
		finish = "stop"
	}
	usage := Usage{CompletionTokens: tokens(reply.Content + reply.Refusal)}
	for _, m := range req.Messages {
		usage.PromptTokens += 3 + tokens(m.Content)
	}
	if finish == "length" {
		switch {
		case req.MaxCompletionTokens != nil:
			usage.CompletionTokens = int64(*req.MaxCompletionTokens)
		case req.MaxTokens != nil:
			usage.CompletionTokens = int64(*req.MaxTokens)
		}
	}
	usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
	if reply.Usage != nil {
		usage = *reply.Usage
	}
	resp := map[string]any{
		"id": fmt.Sprintf("chatcmpl-%06d", seq), "object": "chat.completion", "created": time.Now().Unix(), "model": model,
		"choices": []any{map[string]any{"index": 0, "message": message, "logprobs": nil, "finish_reason": finish}},
		"usage": map[string]any{"prompt_tokens": usage.PromptTokens, "completion_tokens": usage.CompletionTokens, "total_tokens": usage.TotalTokens,
			"prompt_tokens_details": map[string]any{"cached_tokens": 0}, "completion_tokens_details": map[string]any{"reasoning_tokens": 0}},
		"system_fingerprint": "fp_kubedevaiops_test", "service_tier": "default",
	}
	return writeJSON(w, http.StatusOK, resp)
}

func writeError(w http.ResponseWriter, status int, typ, code, param, message string) int {
	e := map[string]any{"message": message, "type": typ, "param": nil, "code": nil}
	if code != "" {
		e["code"] = code
	}
	if param != "" {
		e["param"] = param
	}
	return writeJSON(w, status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return status
}

// maskKey shows a wrong key the way OpenAI does: its start and its last four characters.
func maskKey(k string) string {
	if len(k) <= 12 {
		return strings.Repeat("*", len(k))
	}
	return k[:8] + strings.Repeat("*", len(k)-12) + k[len(k)-4:]
}
