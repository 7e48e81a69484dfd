package diagnose

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxChangeBytes bounds the detail of one "change" evidence item.
const MaxChangeBytes = 64 << 10

// The fields a change can touch, as the spoke names them.
const (
	FieldImage     = "image"
	FieldEnv       = "env"
	FieldResources = "resources"
	FieldReplicas  = "replicas"
)

// Change is the JSON detail of a "change" evidence item: one rollout of the finding's owner
// workload, from one revision to the next. Unknown JSON fields are ignored.
type Change struct {
	Owner        ChangeOwner   `json:"owner"`
	FromRevision int64         `json:"fromRevision"`
	ToRevision   int64         `json:"toRevision"`
	ChangedAt    time.Time     `json:"changedAt"`
	Changes      []FieldChange `json:"changes"`
}

// ChangeOwner names the workload that changed.
type ChangeOwner struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

// FieldChange is one changed field: image, env, resources or replicas (others are kept as given).
type FieldChange struct {
	Field     string `json:"field"`
	Container string `json:"container,omitempty"`
	From      Value  `json:"from,omitempty"`
	To        Value  `json:"to,omitempty"`
}

// Value is a changed value as text: a JSON string as it is, any other JSON value (number, object,
// array, bool) in its canonical JSON encoding (objects with sorted keys), null as "".
type Value string

// UnmarshalJSON accepts any JSON value.
func (v *Value) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*v = Value(s)
		return nil
	}
	var any any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&any); err != nil {
		return err
	}
	if any == nil {
		*v = ""
		return nil
	}
	canon, err := json.Marshal(any)
	if err != nil {
		return err
	}
	*v = Value(canon)
	return nil
}

// ParseChange decodes and checks the detail of a "change" evidence item. It refuses anything but
// one JSON object, and objects without owner kind and name, without changedAt, with a negative
// revision or with toRevision not after fromRevision (when both are set), or with a change that
// names no field.
func ParseChange(detail string) (Change, error) {
	if len(detail) > MaxChangeBytes {
		return Change{}, fmt.Errorf("change evidence: %d bytes, more than %d", len(detail), MaxChangeBytes)
	}
	dec := json.NewDecoder(strings.NewReader(detail))
	var c Change
	if err := dec.Decode(&c); err != nil {
		return Change{}, fmt.Errorf("change evidence: not a JSON change object: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Change{}, errors.New("change evidence: data after the JSON object")
	}
	if err := c.validate(); err != nil {
		return Change{}, fmt.Errorf("change evidence: %w", err)
	}
	c.ChangedAt = c.ChangedAt.UTC()
	return c, nil
}

func (c Change) validate() error {
	switch {
	case c.Owner.Kind == "" || c.Owner.Name == "":
		return errors.New("owner.kind and owner.name are required")
	case c.ChangedAt.IsZero():
		return errors.New("changedAt is required")
	case c.FromRevision < 0 || c.ToRevision < 0:
		return fmt.Errorf("revisions must not be negative (from %d, to %d)", c.FromRevision, c.ToRevision)
	case c.FromRevision > 0 && c.ToRevision > 0 && c.ToRevision <= c.FromRevision:
		return fmt.Errorf("toRevision %d is not after fromRevision %d", c.ToRevision, c.FromRevision)
	}
	for i, f := range c.Changes {
		if f.Field == "" {
			return fmt.Errorf("changes[%d]: field is required", i)
		}
	}
	return nil
}

// Key identifies what the change rolled out, independent of the cluster and of when: the sorted
// "field:container=to" of its changes (e.g. "image:app=web:v2"), so that the same new image rolled
// out to several clusters has the same key. Empty when the change lists no field.
func (c Change) Key() string {
	parts := make([]string, 0, len(c.Changes))
	for _, f := range c.Changes {
		parts = append(parts, f.Field+":"+f.Container+"="+string(f.To))
	}
	slices.Sort(parts)
	return strings.Join(parts, ";")
}

// Touches says whether the change has a change of the field.
func (c Change) Touches(field string) bool {
	for _, f := range c.Changes {
		if f.Field == field {
			return true
		}
	}
	return false
}

// Describe is a short text of the changes, e.g. "image app: web:v1 -> web:v2".
func (c Change) Describe() string {
	parts := make([]string, 0, len(c.Changes))
	for _, f := range c.Changes {
		s := f.Field
		if f.Container != "" {
			s += " " + f.Container
		}
		parts = append(parts, fmt.Sprintf("%s: %s -> %s", s, clip(string(f.From), 80), clip(string(f.To), 80)))
	}
	if len(parts) == 0 {
		return "no field listed"
	}
	return strings.Join(parts, ", ")
}

// clip cuts s to at most n bytes without splitting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
