package store

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBoundedKeepsShortValuesAndBoundsLongOnesInjectively(t *testing.T) {
	short := strings.Repeat("x", MaxKeyBytes)
	assert.Equal(t, short, Bounded(short))
	long := strings.Repeat("é", 3000) // 2-byte runes: the cut must not split one
	b := Bounded(long)
	assert.True(t, utf8.ValidString(b))
	assert.Greater(t, len(b), MaxKeyBytes, "a bounded form never equals a short value")
	assert.LessOrEqual(t, len(b), 140)
	assert.True(t, strings.HasPrefix(b, strings.Repeat("é", 50)))
	assert.NotEqual(t, b, Bounded(long+"x"), "same prefix, different value")
	assert.Equal(t, b, Bounded(long), "deterministic")
}

func TestCleanJSONReplacesOnlyWhatJSONBRefuses(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":"x\u0000y"}`:               `{"a":"x\ufffdy"}`,
		`{"a\u0000":1}`:                  `{"a\ufffd":1}`,
		`{"a":"\\u0000"}`:                `{"a":"\\u0000"}`, // an escaped backslash, then text
		`{"a":"\\\u0000"}`:               `{"a":"\\\ufffd"}`,
		`{"a":"\ud83d\ude00"}`:           `{"a":"\ud83d\ude00"}`, // a valid pair
		`{"a":"\ud83dx"}`:                `{"a":"\ufffdx"}`,      // unpaired high
		`{"a":"\ude00"}`:                 `{"a":"\ufffd"}`,       // unpaired low
		`{"a":"\ud83d\u0041"}`:           `{"a":"\ufffd\u0041"}`,
		`{"a":"\"\u0000"}`:               `{"a":"\"\ufffd"}`,
		`{"a":"plain","b":[1,"\u00e9"]}`: `{"a":"plain","b":[1,"\u00e9"]}`,
	} {
		got := string(cleanJSON([]byte(in)))
		assert.Equal(t, want, got, in)
		assert.True(t, json.Valid([]byte(got)), in)
	}
	unchanged := []byte(`{"a":"b"}`)
	assert.Same(t, &unchanged[0], &cleanJSON(unchanged)[0], "no copy when nothing changes")
}

func FuzzCleanJSON(f *testing.F) {
	f.Add(`{"a":"x\u0000y"}`)
	f.Add(`["\ud83d", "\\u0000", "\ude00\ud83d\ude00"]`)
	f.Fuzz(func(t *testing.T, doc string) {
		if !json.Valid([]byte(doc)) {
			return
		}
		out := cleanJSON([]byte(doc))
		require.True(t, json.Valid(out))
		var a, b any
		require.NoError(t, json.Unmarshal([]byte(doc), &a))
		require.NoError(t, json.Unmarshal(out, &b))
		// Go decodes \u0000 to NUL and bad surrogates to U+FFFD: after
		// cleaning, the documents agree once NULs are replaced.
		assert.Equal(t, replaceNUL(a), b)
	})
}

func replaceNUL(v any) any {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, "\x00", "\uFFFD")
	case []any:
		for i := range x {
			x[i] = replaceNUL(x[i])
		}
		return x
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, val := range x {
			m[strings.ReplaceAll(k, "\x00", "\uFFFD")] = replaceNUL(val)
		}
		return m
	}
	return v
}
