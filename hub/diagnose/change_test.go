package diagnose

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const exampleChange = `{"owner":{"apiVersion":"apps/v1","kind":"Deployment","namespace":"shop","name":"web"},"fromRevision":2,"toRevision":3,"changedAt":"2026-12-01T10:00:00Z","changes":[{"field":"image","container":"app","from":"web:v1","to":"web:v2"}]}`

func TestParseChange(t *testing.T) {
	c, err := ParseChange(exampleChange)
	require.NoError(t, err)
	assert.Equal(t, Change{
		Owner:        ChangeOwner{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"},
		FromRevision: 2, ToRevision: 3, ChangedAt: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		Changes: []FieldChange{{Field: "image", Container: "app", From: "web:v1", To: "web:v2"}},
	}, c)
	assert.Equal(t, "image:app=web:v2", c.Key())
	assert.Equal(t, "image app: web:v1 -> web:v2", c.Describe())

	// Unknown fields are tolerated; non-string values become canonical JSON text.
	c, err = ParseChange(`{"owner":{"kind":"StatefulSet","name":"db","uid":"x"},"changedAt":"2026-12-01T11:00:00+01:00","future":true,
		"changes":[{"field":"replicas","from":3,"to":5,"extra":1},{"field":"resources","container":"db","to":{"limits":{"memory":"1Gi","cpu":"2"}}},{"field":"env","to":null}]}`)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), c.ChangedAt)
	assert.Equal(t, Value("3"), c.Changes[0].From)
	assert.Equal(t, Value(`{"limits":{"cpu":"2","memory":"1Gi"}}`), c.Changes[1].To)
	assert.Equal(t, Value(""), c.Changes[2].To)
	assert.Equal(t, `env:=;replicas:=5;resources:db={"limits":{"cpu":"2","memory":"1Gi"}}`, c.Key())

	for name, bad := range map[string]string{
		"empty":              ``,
		"not json":           `hello`,
		"array":              `[1]`,
		"truncated":          exampleChange[:40],
		"trailing data":      exampleChange + ` {}`,
		"no owner":           `{"changedAt":"2026-12-01T10:00:00Z"}`,
		"no owner name":      `{"owner":{"kind":"Deployment"},"changedAt":"2026-12-01T10:00:00Z"}`,
		"no time":            `{"owner":{"kind":"Deployment","name":"web"}}`,
		"bad time":           `{"owner":{"kind":"Deployment","name":"web"},"changedAt":"yesterday"}`,
		"negative revision":  `{"owner":{"kind":"Deployment","name":"web"},"changedAt":"2026-12-01T10:00:00Z","fromRevision":-1}`,
		"revision backwards": `{"owner":{"kind":"Deployment","name":"web"},"changedAt":"2026-12-01T10:00:00Z","fromRevision":3,"toRevision":2}`,
		"wrong type":         `{"owner":{"kind":"Deployment","name":"web"},"changedAt":"2026-12-01T10:00:00Z","toRevision":"3"}`,
		"change w/o field":   `{"owner":{"kind":"Deployment","name":"web"},"changedAt":"2026-12-01T10:00:00Z","changes":[{"to":"x"}]}`,
		"too big":            `{"owner":{"kind":"Deployment","name":"web"},"changedAt":"2026-12-01T10:00:00Z","x":"` + strings.Repeat("a", MaxChangeBytes) + `"}`,
	} {
		_, err := ParseChange(bad)
		assert.Error(t, err, name)
		if err != nil {
			assert.Contains(t, err.Error(), "change evidence", name)
		}
	}
}

func FuzzParseChange(f *testing.F) {
	for _, s := range []string{
		exampleChange, ``, `{}`, `null`, `{"owner":{"kind":"D","name":"n"},"changedAt":"2026-12-01T10:00:00Z","changes":[{"field":"x","to":[1,{"b":2,"a":1}]}]}`,
		`{"owner":{"kind":"D","name":"n"},"changedAt":"2026-12-01T10:00:00Z","changes":[{"field":"replicas","from":1e400}]}`,
		`{"owner":{"kind":"D","name":"n"},"changedAt":"2026-12-01T10:00:00Z"} x`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, detail string) {
		c, err := ParseChange(detail)
		if err != nil {
			return
		}
		// An accepted change is valid, and survives a round trip through its own JSON.
		require.NoError(t, c.validate())
		b, err := json.Marshal(c)
		require.NoError(t, err)
		again, err := ParseChange(string(b))
		require.NoError(t, err, "re-parse of %s", b)
		if utf8.ValidString(detail) {
			assert.Equal(t, c.Key(), again.Key())
		}
		_ = c.Describe()
	})
}

func FuzzMask(f *testing.F) {
	for _, s := range append(append([]string{}, clusterALog...),
		`{"level":"error","msg":"x 1"}`, `a "b\" c`, `'x' 'y'`, "fd00::1:", "[::1]:80", "\xff\xfe", "web-7d9f8b6c5d-x2k9p",
		"1.2.3.4.5", "0x 0xg", "2026-12-01T10:00:00Z10:00:00", strings.Repeat("1,", 3000)) {
		f.Add(s)
	}
	m := NewMasker()
	f.Fuzz(func(t *testing.T, line string) {
		got := m.Mask(line)
		assert.Equal(t, got, m.Mask(line), "deterministic")
		assert.Equal(t, got, m.Mask(got), "idempotent")
		assert.True(t, utf8.ValidString(got))
		toks := strings.Fields(got)
		assert.LessOrEqual(t, len(toks), MaxTokens)
		for _, tok := range toks {
			assert.LessOrEqual(t, len(tok), MaxTokenBytes)
		}
	})
}
