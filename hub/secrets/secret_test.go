package secrets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

const plantedKey = "sk-planted-9f8e7d6c5b4a"

type holder struct {
	Public  Secret
	private Secret
	ptr     *Secret
}

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret(plantedKey)
	h := holder{Public: s, private: s, ptr: &s}
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%X", "%d", "%10.3s", "%T"} {
		for name, v := range map[string]any{"secret": s, "pointer": &s, "struct": h, "struct pointer": &h, "slice": []Secret{s}, "map": map[string]Secret{"k": s}} {
			out := fmt.Sprintf(verb, v)
			assert.NotContains(t, out, plantedKey, "%s of a %s", verb, name)
			assert.NotContains(t, out, "planted", "%s of a %s", verb, name)
		}
	}
	assert.Equal(t, redacted, s.String())
	assert.Equal(t, "secrets.Secret([redacted])", fmt.Sprintf("%#v", s))

	j, err := json.Marshal(h)
	require.NoError(t, err)
	assert.JSONEq(t, `{"Public":"[redacted]"}`, string(j))
	y, err := yaml.Marshal(map[string]any{"key": s})
	require.NoError(t, err)
	assert.NotContains(t, string(y), plantedKey)

	var buf bytes.Buffer
	for _, log := range []*slog.Logger{slog.New(slog.NewJSONHandler(&buf, nil)), slog.New(slog.NewTextHandler(&buf, nil))} {
		log.Info("provider key", "key", s, "holder", h, "ptr", &s, slog.Any("any", s))
	}
	assert.NotContains(t, buf.String(), plantedKey)
	assert.Contains(t, buf.String(), redacted)

	assert.Equal(t, plantedKey, s.Reveal())
	assert.False(t, s.IsZero())
	assert.True(t, Secret{}.IsZero())
	assert.Empty(t, Secret{}.Reveal())
}
