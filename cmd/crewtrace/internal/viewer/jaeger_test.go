package viewer

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeJaeger answers Jaeger's /api/traces/{id} for one trace: a fake at the
// network edge, in the shape Jaeger's query API writes.
func fakeJaeger(t *testing.T, traceID string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/traces/"+traceID {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"data":[{"traceID":"` + traceID + `","spans":[{"spanID":"00000000000000aa",
			"tags":[{"key":"gen_ai.response.finish_reasons","type":"string","value":"[\"stop\"]"},
			        {"key":"gen_ai.completion","type":"string","value":` + mustJSON(payload) + `},
			        {"key":"gen_ai.usage.input_tokens","type":"int64","value":12}],
			"logs":[{"timestamp":1764547200000000,"fields":[{"key":"event","type":"string","value":"x"}]}]}]}]}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestSpanAttributesComeFromJaeger(t *testing.T) {
	st, _ := testStore(t, 2)
	const trace = "0123456789abcdef0123456789abcdef"
	jg := fakeJaeger(t, trace)
	v, err := New(Config{Store: st, JaegerURL: jg.URL})
	require.NoError(t, err)

	w := get(v, "/api/traces/"+trace+"/spans/00000000000000aa")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var a SpanAttributesJSON
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &a))
	require.Len(t, a.Attributes, 3)
	assert.Equal(t, "gen_ai.completion", a.Attributes[0].Key, "sorted by key")
	assert.Equal(t, payload, a.Attributes[0].Value)
	assert.Equal(t, `["stop"]`, a.Attributes[1].Value)
	assert.InDelta(t, 12, a.Attributes[2].Value, 0)
	require.Len(t, a.Events, 1)
	assert.Equal(t, "2025-12-01T00:00:00Z", a.Events[0].Time.Format("2006-01-02T15:04:05Z07:00"))
	assert.NotContains(t, w.Body.String(), "<script>")

	for target, code := range map[string]int{
		"/api/traces/" + trace + "/spans/00000000000000bb": http.StatusNotFound,   // no such span
		"/api/traces/ffff/spans/00000000000000aa":          http.StatusNotFound,   // no such trace
		"/api/traces/..%2F..%2Fadmin/spans/aa":             http.StatusBadRequest, // not hex: never sent on
		"/api/traces/ABCDEF/spans/aa":                      http.StatusBadRequest,
	} {
		w := get(v, target)
		assert.Equal(t, code, w.Code, "%s: %s", target, w.Body.String())
	}

	// The session page asks for them only with --jaeger.
	page := get(v, sessionURL(firstID(t, v))).Body.String()
	assert.Contains(t, page, `class="jaeger-attrs"`)
	noJaeger, err := New(Config{Store: st})
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, get(noJaeger, "/api/traces/"+trace+"/spans/00000000000000aa").Code)
	assert.NotContains(t, get(noJaeger, sessionURL(firstID(t, noJaeger))).Body.String(), `class="jaeger-attrs"`)

	// Jaeger down: a 502 naming it.
	jg.Close()
	w = get(v, "/api/traces/"+trace+"/spans/00000000000000aa")
	assert.Equal(t, http.StatusBadGateway, w.Code)
	assert.Contains(t, w.Body.String(), "jaeger unreachable")
}

func firstID(t *testing.T, v http.Handler) string {
	var l ListJSON
	require.NoError(t, json.Unmarshal(get(v, "/api/sessions?limit=1&order=asc").Body.Bytes(), &l))
	require.NotEmpty(t, l.Sessions)
	return l.Sessions[0].SessionID
}
