package llmhttp

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
)

const body = `{"model":"m","stream":true,"max_completion_tokens":7,"temperature":0.5,"messages":[{"role":"user","content":"hi"}]}`

func TestReadRequestLeavesTheBody(t *testing.T) {
	for _, getBody := range []bool{true, false} {
		req, err := http.NewRequest(http.MethodPost, "http://x/v1/chat/completions", strings.NewReader(body))
		require.NoError(t, err)
		if !getBody {
			req.GetBody = nil
		}
		assert.Equal(t, body, string(readRequest(req)))
		rest, err := io.ReadAll(req.Body)
		require.NoError(t, err)
		assert.Equal(t, body, string(rest), "the SDK still reads the whole body (GetBody %v)", getBody)
	}
	assert.Nil(t, readRequest(&http.Request{Body: http.NoBody}))
	assert.Nil(t, readRequest(&http.Request{}))

	cut := errors.New("cut")
	req := &http.Request{Body: io.NopCloser(io.MultiReader(strings.NewReader("ab"), &failReader{cut}))}
	assert.Nil(t, readRequest(req), "an unreadable body is not recorded")
	rest, err := io.ReadAll(req.Body)
	assert.ErrorIs(t, err, cut, "the SDK sees the same read error")
	assert.Equal(t, "ab", string(rest))
}

func TestRequestAttributes(t *testing.T) {
	var meta requestMeta
	require.NoError(t, json.Unmarshal([]byte(body), &meta))
	assert.Equal(t, "m", meta.Model)
	assert.Equal(t, []attribute.KeyValue{
		attribute.Int("gen_ai.request.max_tokens", 7),
		attribute.Float64("gen_ai.request.temperature", 0.5),
		attribute.Bool("gen_ai.request.stream", true),
	}, meta.attributes())

	require.NoError(t, json.Unmarshal([]byte(`{"max_tokens":3,"max_output_tokens":9,"top_p":0.9}`), &meta))
	assert.Contains(t, meta.attributes(), attribute.Int("gen_ai.request.max_tokens", 3), "max_tokens first")
	assert.Contains(t, meta.attributes(), attribute.Float64("gen_ai.request.top_p", 0.9))
	assert.Empty(t, (&requestMeta{}).attributes(), "no parameters, no attributes")
}

func TestBufferBody(t *testing.T) {
	res := &http.Response{Body: io.NopCloser(strings.NewReader("0123456789"))}
	b, err := bufferBody(res, 4)
	require.NoError(t, err)
	assert.Equal(t, "0123", string(b), "read up to the limit")
	all, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	assert.Equal(t, "0123456789", string(all), "the body replays what was read, then the rest")

	cut := errors.New("cut")
	res = &http.Response{Body: io.NopCloser(io.MultiReader(strings.NewReader("ab"), &failReader{cut}))}
	b, err = bufferBody(res, 0)
	assert.ErrorIs(t, err, cut)
	assert.Equal(t, "ab", string(b))
	all, err = io.ReadAll(res.Body)
	assert.ErrorIs(t, err, cut, "the SDK sees the same read error")
	assert.Equal(t, "ab", string(all))
}

type failReader struct{ err error }

func (r *failReader) Read([]byte) (int, error) { return 0, r.err }

func TestIsEventStream(t *testing.T) {
	assert.True(t, isEventStream(http.Header{"Content-Type": {"text/event-stream; charset=utf-8"}}))
	assert.False(t, isEventStream(http.Header{"Content-Type": {"application/json"}}))
	assert.False(t, isEventStream(http.Header{}))
}
