package otelanthropic

import (
	"net/http"

	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/crewtrace/crewtrace/instrumentation/llmhttp"
)

// DefaultProviderName is the gen_ai.provider.name recorded when
// WithProviderName is not given, and the prefix of the errors recorded.
const DefaultProviderName = "anthropic"

// Option configures the middleware returned by [Middleware].
type Option = llmhttp.Option

// WithProviderName sets gen_ai.provider.name on the recorded spans, for a
// client that reaches Claude through another platform (for example
// "aws.bedrock" or "gcp.vertex_ai"). The default is [DefaultProviderName];
// an empty name keeps the default.
func WithProviderName(name string) Option { return llmhttp.WithProviderName(name) }

// Middleware returns an anthropic-sdk-go middleware that records each
// Messages call (New and NewStreaming, beta included) made with a context
// holding an otelsession session as a GenAI client span ("chat <model>")
// under the context's current agent, or the session. Calls made without a
// session, and other endpoints, pass through untouched.
//
// Install it on the client, or on one call:
//
//	client := anthropic.NewClient(option.WithMiddleware(otelanthropic.Middleware()))
//
// Each HTTP attempt is one span: a retried call has one span per attempt,
// the retries carrying http.request.resend_count. A streamed response's span
// ends at message_stop, at an error event, when the stream fails, or when
// the application closes it early. The errors recorded are llmhttp.APIError
// and llmhttp.ErrStreamCut.
//
// The SDK (v2) also emits spans of its own through the global
// TracerProvider when one is registered; pass option.WithoutOpenTelemetry()
// to the client to keep only these.
func Middleware(opts ...Option) option.Middleware {
	m := llmhttp.NewMiddleware(DefaultProviderName, api{}, opts...)
	return func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		return m.Do(req, next)
	}
}
