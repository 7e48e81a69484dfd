package execute

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// The hub's plans hold parameters as map[string]string, so every scalar below accepts its value
// either as a JSON string or as the JSON type itself.

// intParam is an integer given as 3 or "3".
type intParam struct {
	set bool
	v   int64
}

func (p *intParam) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		return fmt.Errorf("null is not an integer")
	}
	if unq, err := strconv.Unquote(s); err == nil {
		s = strings.TrimSpace(unq)
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return fmt.Errorf("%s is not an integer", string(b))
	}
	p.set, p.v = true, v
	return nil
}

// durationParam is a Go duration string such as "90s" or "2m".
type durationParam struct {
	set bool
	v   time.Duration
}

func (p *durationParam) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s is not a duration string such as \"2m\"", string(b))
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"2m\"", s)
	}
	p.set, p.v = true, v
	return nil
}

// boolParam is true/false given as a JSON boolean or as "true"/"false".
type boolParam struct {
	set bool
	v   bool
}

func (p *boolParam) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if unq, err := strconv.Unquote(s); err == nil {
		s = unq
	}
	switch s {
	case "true":
		p.set, p.v = true, true
	case "false":
		p.set, p.v = true, false
	default:
		return fmt.Errorf("%s is not true or false", string(b))
	}
	return nil
}

// quantityParam is a Kubernetes quantity string such as "250m" or "512Mi".
type quantityParam struct {
	set bool
	v   resource.Quantity
}

func (p *quantityParam) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		// A bare JSON number is a quantity too ("cpu": 2).
		var n json.Number
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("%s is not a quantity such as \"250m\" or \"512Mi\"", string(b))
		}
		s = n.String()
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return fmt.Errorf("%q is not a quantity such as \"250m\" or \"512Mi\"", s)
	}
	p.set, p.v = true, q
	return nil
}

// verifyParams are accepted by every action type.
type verifyParams struct {
	// VerifyTimeout bounds verification; default DefaultVerifyTimeout, at most MaxVerifyTimeout.
	VerifyTimeout durationParam `json:"verifyTimeout"`
	// VerifyStableFor is how long the healthy state must hold before the action counts as
	// verified, so a pod that is Ready for a moment before it crashes does not pass.
	VerifyStableFor durationParam `json:"verifyStableFor"`
}

// Verification bounds.
const (
	DefaultVerifyTimeout   = 2 * time.Minute
	MinVerifyTimeout       = time.Second
	MaxVerifyTimeout       = 15 * time.Minute
	DefaultVerifyStableFor = 10 * time.Second
)

func (v verifyParams) timeouts() (timeout, stable time.Duration, err error) {
	timeout, stable = DefaultVerifyTimeout, DefaultVerifyStableFor
	if v.VerifyTimeout.set {
		timeout = v.VerifyTimeout.v
		if timeout < MinVerifyTimeout || timeout > MaxVerifyTimeout {
			return 0, 0, fmt.Errorf("verifyTimeout %s is outside [%s, %s]", timeout, MinVerifyTimeout, MaxVerifyTimeout)
		}
	}
	if v.VerifyStableFor.set {
		stable = v.VerifyStableFor.v
		if stable < 0 {
			return 0, 0, fmt.Errorf("verifyStableFor %s is negative", stable)
		}
	}
	if stable >= timeout {
		if v.VerifyStableFor.set {
			return 0, 0, fmt.Errorf("verifyStableFor %s must be shorter than verifyTimeout %s", stable, timeout)
		}
		stable = timeout / 2
	}
	return timeout, stable, nil
}

// verifyTimeouts lets the engine read the common parameters from any action's parameters.
type verifyTimeouts interface {
	timeouts() (timeout, stable time.Duration, err error)
}

// decodeStrict decodes a JSON object into dst, refusing unknown fields, wrong types, anything
// but one object, and duplicate keys' ambiguity is left to encoding/json (last one wins).
func decodeStrict(raw []byte, dst any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	if raw[0] != '{' {
		return fmt.Errorf("parameters must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("decode parameters: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("parameters: unexpected data after the JSON object")
	}
	if _, err := dec.Token(); err == nil {
		return fmt.Errorf("parameters: unexpected data after the JSON object")
	}
	return nil
}
