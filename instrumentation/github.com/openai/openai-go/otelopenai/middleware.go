package otelopenai

import (
	"net/http"

	"github.com/openai/openai-go/v3/option"

	"github.com/crewtrace/crewtrace/instrumentation/llmhttp"
)

// DefaultProviderName is the gen_ai.provider.name recorded when
// WithProviderName is not given, and the prefix of the errors recorded.
const DefaultProviderName = "openai"

// Option configures the middleware returned by [Middleware].
type Option = llmhttp.Option

// WithProviderName sets gen_ai.provider.name on the recorded spans, for a
// client that talks to an OpenAI-compatible endpoint of another provider
// (for example "azure.ai.openai", "ollama", "vllm"). The default is
// [DefaultProviderName]; an empty name keeps the default.
func WithProviderName(name string) Option { return llmhttp.WithProviderName(name) }

// Middleware returns an openai-go middleware that records each chat
// completion, responses-API and embeddings call made with a context holding
// an otelsession session as a GenAI client span ("chat <model>",
// "embeddings <model>") under the context's current agent, or the session.
// Calls made without a session, and other endpoints, pass through untouched.
//
// Install it on the client, or on one call:
//
//	client := openai.NewClient(option.WithMiddleware(otelopenai.Middleware()))
//
// Each HTTP attempt is one span: a retried call has one span per attempt,
// the retries carrying http.request.resend_count. A streamed response's span
// ends when the stream ends, fails, or is closed by the application. The
// errors recorded are llmhttp.APIError and llmhttp.ErrStreamCut.
func Middleware(opts ...Option) option.Middleware {
	m := llmhttp.NewMiddleware(DefaultProviderName, api{}, opts...)
	return func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		return m.Do(req, next)
	}
}
