package otellangchaingo_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tmc/langchaingo/llms"

	"github.com/crewtrace/crewtrace/instrumentation/github.com/tmc/langchaingo/otellangchaingo"
	"github.com/crewtrace/crewtrace/internal/spantest"
)

// langchaingo's openai LLM reports the cached prompt tokens and the
// reasoning tokens in its generation info; the handler records them as the
// GenAI convention's parts of the input and output tokens.
func TestCachedAndReasoningTokens(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "streamed"}[stream], func(t *testing.T) {
			e := newEnv(t)
			h := otellangchaingo.NewHandler(otellangchaingo.WithProviderName("openai"), otellangchaingo.WithModel(modelCached))
			var opts []llms.CallOption
			if stream {
				opts = append(opts, llms.WithStreamingFunc(func(context.Context, []byte) error { return nil }))
			}
			_, err := llms.GenerateFromSinglePrompt(e.ctx, e.openaiLLM(t, modelCached, h), "hi", opts...)
			require.NoError(t, err)
			spans := e.spans("llm")
			require.Len(t, spans, 1)
			got := spantest.GenAI(spans[0])
			assert.Equal(t, int64(2048), got["gen_ai.usage.input_tokens"])
			assert.Equal(t, int64(600), got["gen_ai.usage.output_tokens"])
			assert.Equal(t, int64(1536), got["gen_ai.usage.cache_read.input_tokens"])
			assert.Equal(t, int64(512), got["gen_ai.usage.reasoning.output_tokens"])
		})
	}
}
