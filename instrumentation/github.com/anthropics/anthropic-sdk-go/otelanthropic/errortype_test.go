package otelanthropic_test

import (
	"context"
	"sync"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crewtrace/crewtrace/otelsession"
)

// probeError has an ErrorType method, as the middleware's errors do.
type probeError struct{}

func (probeError) Error() string     { return "probe" }
func (probeError) ErrorType() string { return "probe_type" }

var honoursErrorType = sync.OnceValue(func() bool {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	ctx, sess := otelsession.Start(context.Background(), otelsession.WithTracerProvider(tp))
	_, call, err := otelsession.StartLLMCall(ctx, otelsession.LLMRequest{Model: "probe"})
	if err != nil {
		return false
	}
	call.End(otelsession.LLMResponse{}, probeError{})
	_ = sess.End(otelsession.Success, "")
	for _, s := range rec.Ended() {
		for _, kv := range s.Attributes() {
			if kv.Key == "error.type" {
				return kv.Value.AsString() == "probe_type"
			}
		}
	}
	return false
})

// wantErrorType is the error.type otelsession records for an error of Go
// type goType whose ErrorType method returns errorType: errorType when
// otelsession honours the ErrorType convention of the OTel semconv packages
// (asked of otelsession itself, above), else the Go type.
func wantErrorType(goType, errorType string) string {
	if honoursErrorType() {
		return errorType
	}
	return goType
}
