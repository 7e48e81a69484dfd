package jules

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinel errors; every error the client returns for an HTTP answer is an *APIError that
// matches one of them with errors.Is.
var (
	// ErrBadRequest: Jules refused the request as malformed or not possible now (400).
	ErrBadRequest = errors.New("jules refused the request")
	// ErrUnauthenticated: no API key reached Jules, or Jules did not accept it as one (401).
	ErrUnauthenticated = errors.New("jules did not authenticate the hub")
	// ErrPermissionDenied: the API key is not allowed to do this (403).
	ErrPermissionDenied = errors.New("jules denied permission")
	// ErrNotFound: the session, activity or source does not exist at Jules (404).
	ErrNotFound = errors.New("not found at jules")
	// ErrRateLimited: Jules still answered 429 after the client's retries.
	ErrRateLimited = errors.New("jules rate limit")
	// ErrUnavailable: Jules still answered 5xx after the client's retries.
	ErrUnavailable = errors.New("jules unavailable")
	// ErrBudgetExhausted: the day's session budget is used up; no session was created.
	ErrBudgetExhausted = errors.New("daily jules session budget exhausted")
	// ErrNoKey: the key source gave no API key.
	ErrNoKey = errors.New("no jules api key")
	// ErrInvalidMessage: a message to a session is empty or too large.
	ErrInvalidMessage = errors.New("invalid message")
	// ErrSessionNotActive: the session is pending, completed or failed, and takes no message.
	ErrSessionNotActive = errors.New("the jules session is not active")
)

// APIError is an HTTP error answer from Jules. It never carries the API key: the server's
// message is scrubbed of it before it is kept.
type APIError struct {
	// Op is the API method, e.g. "sessions.create".
	Op string
	// Resource is what the call was about, e.g. "sessions/123"; empty for collections.
	Resource string
	// StatusCode is the HTTP status.
	StatusCode int
	// Status is the Google API status name, e.g. "PERMISSION_DENIED", when Jules gave one.
	Status string
	// Message is the server's message.
	Message string
	// Attempts is how many requests were made, retries included.
	Attempts int
	// RetryAfter is what the last 429 or 503 asked to wait, when it said.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	what := e.Op
	if e.Resource != "" {
		what += " " + e.Resource
	}
	msg := fmt.Sprintf("jules %s: HTTP %d", what, e.StatusCode)
	if e.Status != "" {
		msg += " " + e.Status
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Attempts > 1 {
		msg += fmt.Sprintf(" (after %d attempts)", e.Attempts)
	}
	if hint := e.hint(); hint != "" {
		msg += "; " + hint
	}
	return msg
}

// hint says what to do about the error.
func (e *APIError) hint() string {
	switch e.StatusCode {
	case http.StatusUnauthorized:
		return "check the Jules API key the hub reads from its secret store"
	case http.StatusForbidden:
		return "the API key lacks access: check the key, and that the repository is connected to Jules"
	case http.StatusNotFound:
		if e.Resource != "" {
			return e.Resource + " does not exist at Jules"
		}
	case http.StatusTooManyRequests:
		return "Jules is rate limiting the hub; try again later"
	}
	return ""
}

// Is makes the error match the sentinel for its status.
func (e *APIError) Is(target error) bool {
	return target == sentinelFor(e.StatusCode)
}

func sentinelFor(code int) error {
	switch {
	case code == http.StatusUnauthorized:
		return ErrUnauthenticated
	case code == http.StatusForbidden:
		return ErrPermissionDenied
	case code == http.StatusNotFound:
		return ErrNotFound
	case code == http.StatusTooManyRequests:
		return ErrRateLimited
	case code >= 500:
		return ErrUnavailable
	case code >= 400:
		return ErrBadRequest
	}
	return nil
}

// errorType is the error.type span attribute of an error.
func errorType(err error) string {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return fmt.Sprintf("%d", apiErr.StatusCode)
	}
	switch {
	case errors.Is(err, ErrNoKey):
		return "no_key"
	case errors.Is(err, ErrBudgetExhausted):
		return "budget_exhausted"
	}
	return "transport"
}
