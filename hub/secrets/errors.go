package secrets

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	vault "github.com/hashicorp/vault/api"
)

// Errors a caller can test with errors.Is. Any error from Key means "no key now": the caller
// answers with the built-in engine.
var (
	// ErrUnavailable: Vault cannot be asked now (unreachable, sealed, failing, or the login did
	// not succeed). It passes; the hub keeps trying to log in.
	ErrUnavailable = errors.New("vault unavailable")
	// ErrLoginFailed: Vault refused the login or its credentials could not be read. Also
	// ErrUnavailable.
	ErrLoginFailed = errors.New("vault login failed")
	// ErrNotFound: no key is stored for the provider (no secret, or no such field in it).
	ErrNotFound = errors.New("provider key not found")
	// ErrDenied: Vault's policy does not let the hub read the key.
	ErrDenied = errors.New("vault permission denied")
	// ErrClosed: the Vault was closed.
	ErrClosed = errors.New("vault client closed")
)

// vaultError carries a message that was scrubbed of every credential, and the sentinels it is.
// It deliberately does not wrap the error that caused it: that error's text could hold a value.
type vaultError struct {
	msg   string
	kinds []error
}

func (e *vaultError) Error() string   { return e.msg }
func (e *vaultError) Unwrap() []error { return e.kinds }

// failure is how a request to Vault failed.
type failure int

const (
	failUnreachable failure = iota // no answer, or 5xx / sealed / standby
	failRejected                   // 403: the token is unknown or the policy says no
	failNotFound                   // 404
	failRefused                    // another 4xx
	failContext                    // the caller's context ended
)

// classify says how err, from a request made with ctx, failed.
func classify(ctx context.Context, err error) failure {
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return failContext
	}
	var re *vault.ResponseError
	if errors.As(err, &re) {
		switch {
		case re.StatusCode >= 500 || re.StatusCode == http.StatusTooManyRequests:
			return failUnreachable
		case re.StatusCode == http.StatusForbidden:
			return failRejected
		case re.StatusCode == http.StatusNotFound:
			return failNotFound
		default:
			return failRefused
		}
	}
	return failUnreachable
}

// describe is a one-line account of err: for an answer from Vault its status and Vault's
// messages (not the URL, which the caller's message names), else the error's text.
func describe(err error) string {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		msgs := strings.Join(strings.Fields(strings.Join(re.Errors, "; ")), " ")
		msgs = strings.TrimPrefix(msgs, "1 error occurred: * ")
		if msgs == "" {
			msgs = http.StatusText(re.StatusCode)
		}
		return fmt.Sprintf("HTTP %d: %s", re.StatusCode, msgs)
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
