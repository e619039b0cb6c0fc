package otelopenai_test

import (
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/internal/spantest"
)

// usageKeys are the span's token and cost attributes.
func usageKeys(t *testing.T, e *env) map[string]any {
	t.Helper()
	got := map[string]any{}
	for k, v := range spantest.Attrs(e.onlyLLMSpan(t)) {
		switch k {
		case "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens",
			"gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.reasoning.output_tokens", "crewtrace.usage.cost":
			got[string(k)] = v.AsInterface()
		}
	}
	return got
}

// Chat completions: prompt_tokens_details.cached_tokens and
// completion_tokens_details.reasoning_tokens are parts of the prompt and
// completion tokens (the GenAI convention counts them the same way), and a
// gateway's usage.cost is the reported cost.
func TestChatCompletionCachedAndReasoningTokens(t *testing.T) {
	e := newEnv(t)
	resp, err := e.client.Chat.Completions.New(e.ctx, openai.ChatCompletionNewParams{Model: modelCached, Messages: userMessage("hi")})
	require.NoError(t, err)
	assert.Equal(t, int64(1536), resp.Usage.PromptTokensDetails.CachedTokens, "the SDK reads the same body")
	assert.Equal(t, map[string]any{
		"gen_ai.usage.input_tokens":            int64(2048),
		"gen_ai.usage.output_tokens":           int64(600),
		"gen_ai.usage.cache_read.input_tokens": int64(1536),
		"gen_ai.usage.reasoning.output_tokens": int64(512),
		"crewtrace.usage.cost":                 0.0042,
	}, usageKeys(t, e))
}

func TestChatCompletionStreamCachedAndReasoningTokens(t *testing.T) {
	e := newEnv(t)
	stream := e.client.Chat.Completions.NewStreaming(e.ctx, openai.ChatCompletionNewParams{
		Model: modelCached, Messages: userMessage("hi"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	for stream.Next() {
	}
	require.NoError(t, stream.Err())
	assert.Equal(t, map[string]any{
		"gen_ai.usage.input_tokens":            int64(2048),
		"gen_ai.usage.output_tokens":           int64(600),
		"gen_ai.usage.cache_read.input_tokens": int64(1536),
		"gen_ai.usage.reasoning.output_tokens": int64(512),
		"crewtrace.usage.cost":                 0.0042,
	}, usageKeys(t, e))
}

// The responses API: input_tokens_details.cached_tokens and
// output_tokens_details.reasoning_tokens.
func TestResponsesCachedAndReasoningTokens(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.Responses.New(e.ctx, responses.ResponseNewParams{
		Model: modelCached, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
	})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"gen_ai.usage.input_tokens":            int64(1200),
		"gen_ai.usage.output_tokens":           int64(300),
		"gen_ai.usage.cache_read.input_tokens": int64(1024),
		"gen_ai.usage.reasoning.output_tokens": int64(256),
	}, usageKeys(t, e))
}

func TestResponsesStreamCachedAndReasoningTokens(t *testing.T) {
	e := newEnv(t)
	stream := e.client.Responses.NewStreaming(e.ctx, responses.ResponseNewParams{
		Model: modelCached, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
	})
	for stream.Next() {
	}
	require.NoError(t, stream.Err())
	assert.Equal(t, map[string]any{
		"gen_ai.usage.input_tokens":            int64(1200),
		"gen_ai.usage.output_tokens":           int64(300),
		"gen_ai.usage.cache_read.input_tokens": int64(1024),
		"gen_ai.usage.reasoning.output_tokens": int64(256),
	}, usageKeys(t, e))
}
