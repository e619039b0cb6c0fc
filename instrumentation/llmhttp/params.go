package llmhttp

import (
	"go.opentelemetry.io/otel/attribute"
	// The crewtrace semconv package holds the keys of the session contract;
	// these request parameters are plain GenAI keys, from the last Go semconv
	// package that has them.
	genai "go.opentelemetry.io/otel/semconv/v1.41.0"
)

// requestMeta is the part of a request body read whatever the session's
// content capture: everything but the content, spelled the same way by the
// OpenAI and Anthropic APIs.
type requestMeta struct {
	Model               string   `json:"model"`
	Stream              bool     `json:"stream"`
	MaxTokens           *int     `json:"max_tokens"`
	MaxCompletionTokens *int     `json:"max_completion_tokens"`
	MaxOutputTokens     *int     `json:"max_output_tokens"`
	Temperature         *float64 `json:"temperature"`
	TopP                *float64 `json:"top_p"`
}

// attributes are the gen_ai.request.* attributes of the parameters that are
// set, and gen_ai.request.stream when the request asked for a stream.
func (p *requestMeta) attributes() []attribute.KeyValue {
	var attrs []attribute.KeyValue
	for _, max := range []*int{p.MaxTokens, p.MaxCompletionTokens, p.MaxOutputTokens} {
		if max != nil {
			attrs = append(attrs, genai.GenAIRequestMaxTokensKey.Int(*max))
			break
		}
	}
	if p.Temperature != nil {
		attrs = append(attrs, genai.GenAIRequestTemperatureKey.Float64(*p.Temperature))
	}
	if p.TopP != nil {
		attrs = append(attrs, genai.GenAIRequestTopPKey.Float64(*p.TopP))
	}
	if p.Stream {
		attrs = append(attrs, genai.GenAIRequestStreamKey.Bool(true))
	}
	return attrs
}
