package secrets

import (
	"fmt"
	"log/slog"
)

// redacted is what a Secret shows wherever it is printed, logged or encoded.
const redacted = "[redacted]"

// Secret is a credential read from Vault. Every way of printing, logging or encoding it shows
// "[redacted]"; only Reveal gives the value, and only the code that sets the request header
// should call it. The value sits behind a pointer so that fmt, reaching a Secret held in an
// unexported struct field (where it cannot call these methods), prints an address and not the key.
type Secret struct {
	v *string
}

// NewSecret wraps a value; for tests and for code that receives a credential from elsewhere.
func NewSecret(value string) Secret { return Secret{v: &value} }

// Reveal returns the value. Use it only to set the header of an outgoing request.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports whether the Secret holds no value.
func (s Secret) IsZero() bool { return s.v == nil || *s.v == "" }

func (s Secret) String() string   { return redacted }
func (s Secret) GoString() string { return "secrets.Secret(" + redacted + ")" }

// Format covers every verb, %x and %q included, which would otherwise bypass String.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(s.GoString()))
		return
	}
	_, _ = f.Write([]byte(redacted))
}

func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
func (s Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
