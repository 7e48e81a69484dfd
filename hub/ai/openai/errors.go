package openai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Errors of a call, for errors.Is. An *APIError matches the sentinel of its status; an
// *InvalidAnswerError matches the reason its answer was refused.
var (
	// The server refused the request.
	ErrUnauthorized  = errors.New("the provider refused the API key")
	ErrForbidden     = errors.New("the API key may not use this model or endpoint")
	ErrBadRequest    = errors.New("the provider refused the request as malformed")
	ErrNotFound      = errors.New("the provider has no such model or endpoint")
	ErrRateLimited   = errors.New("the provider is rate limiting")
	ErrQuotaExceeded = errors.New("the provider account's quota is exhausted")
	ErrServerError   = errors.New("the provider failed")
	// The call did not reach an answer.
	ErrCredentials = errors.New("no API key could be had")
	ErrTransport   = errors.New("the provider could not be reached")
	ErrTimeout     = errors.New("the provider did not answer in time")
	// The answer was refused: none of these is ever acted on.
	ErrTruncated      = errors.New("the answer was cut off at the token limit")
	ErrRefused        = errors.New("the model refused to answer")
	ErrContentFilter  = errors.New("the provider's content filter withheld the answer")
	ErrInvalidAnswer  = errors.New("the answer is not valid JSON of the requested schema")
	ErrUnknownAction  = errors.New("the answer proposes an action type that does not exist")
	ErrOutOfRange     = errors.New("the answer holds a value out of its allowed range")
	ErrUnknownTarget  = errors.New("the answer names a cluster, namespace or workload it was not told about")
	ErrInputTooLarge  = errors.New("the input is larger than the provider may be sent")
	ErrNotImplemented = errors.New("the provider answered with a tool call, which the hub never offers")
)

// APIError is an error answer of the server: its status and the OpenAI error object
// {"error": {"message", "type", "param", "code"}}. Its message never contains the API key.
type APIError struct {
	StatusCode int
	Type       string // e.g. invalid_request_error, insufficient_quota, server_error
	Code       string // e.g. invalid_api_key, rate_limit_exceeded, model_not_found
	Param      string
	Message    string
	RequestID  string        // x-request-id, when the server sends one
	RetryAfter time.Duration // what the server asked to wait, when it did
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "chat completions answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if c := firstNonEmpty(e.Code, e.Type); c != "" {
		fmt.Fprintf(&b, " (%s)", c)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request %s]", e.RequestID)
	}
	return b.String()
}

// Is matches the sentinel of the status.
func (e *APIError) Is(target error) bool { return e.sentinel() == target }

func (e *APIError) sentinel() error {
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		return ErrUnauthorized
	case e.StatusCode == http.StatusForbidden:
		return ErrForbidden
	case e.StatusCode == http.StatusNotFound:
		return ErrNotFound
	case e.StatusCode == http.StatusTooManyRequests && (e.Type == "insufficient_quota" || e.Code == "insufficient_quota"):
		return ErrQuotaExceeded
	case e.StatusCode == http.StatusTooManyRequests:
		return ErrRateLimited
	case e.StatusCode >= 500:
		return ErrServerError
	case e.StatusCode >= 400:
		return ErrBadRequest
	}
	return nil
}

// retryable: rate limits (not an exhausted quota, which waiting does not cure), timeouts,
// conflicts and server failures.
func (e *APIError) retryable() bool {
	switch e.sentinel() {
	case ErrRateLimited, ErrServerError:
		return true
	}
	return e.StatusCode == http.StatusRequestTimeout || e.StatusCode == http.StatusConflict
}

// InvalidAnswerError is an answer the hub refused. Content is the answer as the provider wrote
// it — anonymised, so it holds placeholders, never fleet names — cut to MaxRefusedContent
// bytes, for the audit record of the refusal.
type InvalidAnswerError struct {
	Reason  error  // one of the answer sentinels: ErrTruncated, ErrInvalidAnswer, ErrUnknownAction...
	Detail  string // what was wrong, and where ($.suggestedActions[0].type)
	Content string
}

// MaxRefusedContent bounds InvalidAnswerError.Content.
const MaxRefusedContent = 2048

func (e *InvalidAnswerError) Error() string {
	if e.Detail == "" {
		return "answer refused: " + e.Reason.Error()
	}
	return "answer refused: " + e.Detail + ": " + e.Reason.Error()
}

func (e *InvalidAnswerError) Unwrap() error { return e.Reason }

func refuse(reason error, content []byte, format string, args ...any) *InvalidAnswerError {
	if len(content) > MaxRefusedContent {
		content = content[:MaxRefusedContent]
	}
	return &InvalidAnswerError{Reason: reason, Detail: fmt.Sprintf(format, args...), Content: string(content)}
}

// ErrorType names the kind of a call's failure in a few low-cardinality words, for the
// error.type span attribute and the outcome label of the request metrics: "ok" for nil.
func ErrorType(err error) string {
	kinds := []struct {
		err  error
		name string
	}{
		{ErrUnauthorized, "unauthorized"}, {ErrForbidden, "forbidden"}, {ErrBadRequest, "bad_request"},
		{ErrNotFound, "not_found"}, {ErrRateLimited, "rate_limited"}, {ErrQuotaExceeded, "quota_exceeded"},
		{ErrServerError, "server_error"}, {ErrCredentials, "credentials"}, {ErrTimeout, "timeout"},
		{ErrTransport, "transport"}, {ErrTruncated, "truncated"}, {ErrRefused, "refused"},
		{ErrContentFilter, "content_filter"}, {ErrUnknownAction, "unknown_action"}, {ErrOutOfRange, "out_of_range"},
		{ErrUnknownTarget, "unknown_target"}, {ErrInvalidAnswer, "invalid_answer"}, {ErrInputTooLarge, "input_too_large"},
		{ErrNotImplemented, "tool_call"}, {ErrBudgetExhausted, "budget_exhausted"},
		{context.Canceled, "canceled"}, {context.DeadlineExceeded, "timeout"},
	}
	if err == nil {
		return "ok"
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "error"
}

// ErrBudgetExhausted wraps a meter's refusal to let a call through.
var ErrBudgetExhausted = errors.New("the provider's daily budget is used up")

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
