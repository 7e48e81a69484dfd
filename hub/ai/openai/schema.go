package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Schema is the subset of JSON Schema the hub's answers use, limited to what OpenAI's strict
// structured outputs accept: every object lists all its properties as required and allows no
// others. Length limits are enforced here only, since strict mode does not take them.
type Schema struct {
	Type                 string             `json:"type"` // object, array, string, number, integer, boolean
	Description          string             `json:"description,omitempty"`
	Properties           map[string]*Schema `json:"properties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	AdditionalProperties *bool              `json:"additionalProperties,omitempty"`
	Items                *Schema            `json:"items,omitempty"`
	Enum                 []string           `json:"enum,omitempty"`
	Minimum              *float64           `json:"minimum,omitempty"`
	Maximum              *float64           `json:"maximum,omitempty"`
	MinItems             *int               `json:"minItems,omitempty"`
	MaxItems             *int               `json:"maxItems,omitempty"`

	// Enforced locally, not sent.
	MinLength int `json:"-"` // in characters
	MaxLength int `json:"-"` // in characters; 0: no limit
	// EnumError is the reason an enum violation is refused with; ErrInvalidAnswer when nil.
	EnumError error `json:"-"`
}

// Schema constructors, so the answer schemas read as a table.
func object(props map[string]*Schema) *Schema {
	req := make([]string, 0, len(props))
	for k := range props {
		req = append(req, k)
	}
	slices.Sort(req)
	no := false
	return &Schema{Type: "object", Properties: props, Required: req, AdditionalProperties: &no}
}

func str(minLen, maxLen int, desc string) *Schema {
	return &Schema{Type: "string", MinLength: minLen, MaxLength: maxLen, Description: desc}
}

func enum(values []string, reason error, desc string) *Schema {
	return &Schema{Type: "string", Enum: values, EnumError: reason, Description: desc}
}

func number(lo, hi float64, desc string) *Schema {
	return &Schema{Type: "number", Minimum: &lo, Maximum: &hi, Description: desc}
}

func array(items *Schema, maxItems int, desc string) *Schema {
	return &Schema{Type: "array", Items: items, MaxItems: &maxItems, Description: desc}
}

// decodeStrict reads exactly one JSON value, refusing duplicate object keys and anything
// after the value; numbers stay json.Number.
func decodeStrict(data []byte) (any, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, "$")
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more data after the JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, path string) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("empty or cut-off JSON")
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("%s: %w", path, err)
				}
				k := kt.(string) // the decoder allows only strings as keys
				if _, dup := obj[k]; dup {
					return nil, fmt.Errorf("%s: key %q appears twice", path, k)
				}
				v, err := decodeValue(dec, path+"."+k)
				if err != nil {
					return nil, err
				}
				obj[k] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return obj, nil
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := decodeValue(dec, path+"["+strconv.Itoa(len(arr))+"]")
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return arr, nil
		}
		return nil, fmt.Errorf("%s: unexpected %q", path, t)
	default:
		return t, nil
	}
}

// violation is one way a value breaks its schema.
type violation struct {
	path, msg string
	reason    error
}

func (v *violation) Error() string { return v.path + ": " + v.msg }

// validate checks a decoded value against the schema and returns the first violation.
func (s *Schema) validate(v any, path string) *violation {
	bad := func(reason error, format string, args ...any) *violation {
		return &violation{path: path, msg: fmt.Sprintf(format, args...), reason: reason}
	}
	switch s.Type {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return bad(ErrInvalidAnswer, "want an object, got %s", kindOf(v))
		}
		for _, k := range s.Required {
			if _, ok := obj[k]; !ok {
				return bad(ErrInvalidAnswer, "required field %q is missing", k)
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ps, known := s.Properties[k]
			if !known {
				if s.AdditionalProperties != nil && !*s.AdditionalProperties {
					return bad(ErrInvalidAnswer, "unknown field %q", k)
				}
				continue
			}
			if err := ps.validate(obj[k], path+"."+k); err != nil {
				return err
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return bad(ErrInvalidAnswer, "want an array, got %s", kindOf(v))
		}
		if s.MinItems != nil && len(arr) < *s.MinItems {
			return bad(ErrOutOfRange, "%d items, fewer than %d", len(arr), *s.MinItems)
		}
		if s.MaxItems != nil && len(arr) > *s.MaxItems {
			return bad(ErrOutOfRange, "%d items, more than %d", len(arr), *s.MaxItems)
		}
		for i, e := range arr {
			if err := s.Items.validate(e, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return bad(ErrInvalidAnswer, "want a string, got %s", kindOf(v))
		}
		if len(s.Enum) > 0 && !slices.Contains(s.Enum, str) {
			reason := s.EnumError
			if reason == nil {
				reason = ErrInvalidAnswer
			}
			return bad(reason, "%q is not one of %s", clip(str), strings.Join(s.Enum, ", "))
		}
		n := utf8.RuneCountInString(str)
		if n < s.MinLength || s.MaxLength > 0 && n > s.MaxLength {
			return bad(ErrOutOfRange, "%d characters, outside %d..%d", n, s.MinLength, s.MaxLength)
		}
	case "number", "integer":
		num, ok := v.(json.Number)
		if !ok {
			return bad(ErrInvalidAnswer, "want a number, got %s", kindOf(v))
		}
		f, err := num.Float64()
		if err != nil {
			return bad(ErrInvalidAnswer, "number %s: %v", clip(num.String()), err)
		}
		if s.Type == "integer" {
			if _, err := num.Int64(); err != nil {
				return bad(ErrInvalidAnswer, "want an integer, got %s", clip(num.String()))
			}
		}
		if s.Minimum != nil && f < *s.Minimum || s.Maximum != nil && f > *s.Maximum {
			return bad(ErrOutOfRange, "%s is outside %v..%v", clip(num.String()), deref(s.Minimum), deref(s.Maximum))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return bad(ErrInvalidAnswer, "want true or false, got %s", kindOf(v))
		}
	default:
		return bad(ErrInvalidAnswer, "schema type %q is not supported", s.Type)
	}
	return nil
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

func deref(f *float64) any {
	if f == nil {
		return "any"
	}
	return *f
}

// clip keeps quoted model output in errors short.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	for i := limit; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "..."
		}
	}
	return "..."
}
