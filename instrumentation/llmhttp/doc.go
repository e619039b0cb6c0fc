// Package llmhttp is the core of crewtrace's adapters for LLM SDKs that talk
// to their API over HTTP (otelopenai, otelanthropic). It is for adapter
// authors: an application installs an adapter's middleware and never imports
// this package.
//
// A [Middleware] records each call of an LLM HTTP API made with a context
// holding an otelsession session as an LLM call span (otelsession.StartLLMCall)
// under the context's current agent, or the session. It does everything that
// does not depend on the API's wire format: it reads the request body without
// taking it from the SDK (model, gen_ai.request.* parameters, the prompt when
// the session captures content), records a retry's
// http.request.resend_count, ends the span with the API's error on an HTTP
// error status, buffers a JSON response so that the SDK reads exactly what it
// would have read, and wraps a server-sent event stream so that the span ends
// when the stream ends, fails ([ErrStreamCut]) or is abandoned by the
// application (semconv.LLMStreamAbandonedKey). An adapter supplies only the
// shapes of its API: an [API] (which requests are calls, where a request keeps
// its prompt) and, per call, a [Response] that reads the response body or
// events.
//
//	func Middleware(opts ...llmhttp.Option) option.Middleware {
//		m := llmhttp.NewMiddleware("openai", api{}, opts...)
//		return func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
//			return m.Do(req, next)
//		}
//	}
//
// # Why a public package
//
// Each adapter is a module of its own, so that a program pulls in only the
// SDKs it uses. Go's internal/ rule is by import path and would let the
// adapters import an internal package of this (the root) module, but an
// internal package promises nothing between versions: an adapter built
// against one version of the root module would stop compiling when another
// dependency selects a newer one (minimal version selection) in which that
// package changed. A public package is versioned with the root module: it
// changes only as the module's version allows, as otelsession and semconv do.
// (opentelemetry-go-contrib reaches the same end the other way, by generating
// its shared code into every module; one package needs no generator and keeps
// no copies.) What the adapters share beyond this API, such as the
// server-sent event parser, stays in the root module's internal/, used only
// by this package.
package llmhttp // import "github.com/crewtrace/crewtrace/instrumentation/llmhttp"
