package store

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var jsonSamples = []string{
	`{}`, ` { } `, `{"a":1}`, `{"a":-0.5e+10,"b":[1,2,{"c":null}],"d":"x\"y\\z\u00e9\n","e":true,"f":false}`,
	`{"a":[]}`, `{"a":[[]]}`, `{"":""}`, `{"a\u0062":1}`, "{\"a\":\"\xff\"}",
	// invalid
	``, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1 "b":2}`, `{a:1}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`,
	`{"a":-}`, `{"a":1e}`, `{"a":tru}`, `{"a":nul}`, `{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}", `{"a":"abc`,
	`{"a":[1,]}`, `{"a":[1 2]}`, `{"a":{"b":1}`, `{} x`, `{"a":1}}`, `[1]`, `"s"`, `{"a":+1}`, `{"a":0x1}`,
}

func TestScannerAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range jsonSamples {
		_, err := parseObject([]byte(in))
		var m map[string]json.RawMessage
		want := json.Unmarshal([]byte(in), &m) == nil && m != nil
		assert.Equal(t, want, err == nil, "%q: %v", in, err)
	}
}

func FuzzScanner(f *testing.F) {
	for _, s := range jsonSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := parseObject(in)
		var m map[string]json.RawMessage
		jerr := json.Unmarshal(in, &m)
		if jerr != nil || m == nil {
			if err == nil {
				t.Fatalf("accepted invalid %q", in)
			}
			return
		}
		if err != nil {
			// Only duplicate keys are refused beyond encoding/json.
			require.Contains(t, err.Error(), "duplicate", "%q", in)
			return
		}
		d.setResourceVersion(7)
		out := d.marshal()
		require.True(t, json.Valid(out), "%q -> %q", in, out)
	})
}

func TestMarshalSplicesOwnedFields(t *testing.T) {
	d, err := parseObject([]byte(`{"kind":"X", "metadata" : {"uid":"old","name":"n","resourceVersion":"1"}, "spec":{"a": 1}}`))
	require.NoError(t, err)
	d.setResourceVersion(42)
	d.setGeneration(3)
	assert.Equal(t, `{"kind":"X","metadata":{"uid":"old","name":"n","generation":3,"resourceVersion":"42"},"spec":{"a": 1}}`, string(d.marshal()))

	d, err = parseObject([]byte(`{"kind":"X"}`))
	require.NoError(t, err)
	d.setOwnedString(ownUID, "u")
	assert.Equal(t, `{"kind":"X","metadata":{"uid":"u"}}`, string(d.marshal()))

	// Key order and whitespace outside spec do not change the spec sum; spec does.
	a, _ := parseObject([]byte(`{"spec":{"x":1},"kind":"K","metadata":{"name":"a"},"status":{"s":1}}`))
	b, _ := parseObject([]byte(`{"kind":"K", "metadata":{"name":"b"}, "spec":{"x":1},"status":{"s":2}}`))
	c, _ := parseObject([]byte(`{"kind":"K","spec":{"x":2}}`))
	assert.Equal(t, a.specSum(), b.specSum())
	assert.NotEqual(t, a.specSum(), c.specSum())

	l, err := (func() (map[string]string, error) {
		d, _ := parseObject([]byte(`{"metadata":{"labels":{"a":"1","b\u0041":"x\ty"}}}`))
		return d.labels()
	})()
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "1", "bA": "x\ty"}, l)
}
