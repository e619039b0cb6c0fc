package otelsession_test

import (
	"context"
	"errors"
	"log"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/crewtrace/crewtrace/otelsession"
)

// handled captures what otel.Handle receives during a test.
func handled(t *testing.T) func() []error {
	t.Helper()
	var mu sync.Mutex
	var errs []error
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}))
	t.Cleanup(func() { otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Print(err) })) })
	return func() []error {
		mu.Lock()
		defer mu.Unlock()
		return append([]error(nil), errs...)
	}
}

// useGlobalTracerProvider makes tp the global TracerProvider for the test,
// and a no-op one afterwards (the globals cannot go back to their default).
func useGlobalTracerProvider(t *testing.T, tp trace.TracerProvider) {
	t.Helper()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(tracenoop.NewTracerProvider()) })
}

// TestNoopGlobalWarnsOnce: a session that falls back to a no-op global
// TracerProvider reports ErrNoopTracerProvider to otel.Handle, once per
// process; a real global provider, or a provider given as an option (no-op
// or not), reports nothing.
func TestNoopGlobalWarnsOnce(t *testing.T) {
	t.Setenv("OTEL_SDK_DISABLED", "")
	t.Run("no-op global", func(t *testing.T) {
		got := handled(t)
		otelsession.ResetNoopWarning()
		useGlobalTracerProvider(t, tracenoop.NewTracerProvider())
		for range 3 {
			_, s := otelsession.Start(context.Background())
			require.NoError(t, s.End(otelsession.Success, ""))
		}
		errs := got()
		require.Len(t, errs, 1, "once per process")
		assert.True(t, errors.Is(errs[0], otelsession.ErrNoopTracerProvider))
	})
	t.Run("no-op global under a caller's span", func(t *testing.T) {
		got := handled(t)
		otelsession.ResetNoopWarning()
		useGlobalTracerProvider(t, tracenoop.NewTracerProvider())
		callerTP := sdktrace.NewTracerProvider()
		t.Cleanup(func() { _ = callerTP.Shutdown(context.Background()) })
		ctx, span := callerTP.Tracer("caller").Start(context.Background(), "request")
		defer span.End()
		_, s := otelsession.Start(ctx)
		require.NoError(t, s.End(otelsession.Success, ""))
		require.Len(t, got(), 1, "a no-op provider hands back the caller's span context: still a no-op")
	})
	t.Run("real global", func(t *testing.T) {
		got := handled(t)
		otelsession.ResetNoopWarning()
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		useGlobalTracerProvider(t, tp)
		_, s := otelsession.Start(context.Background())
		require.NoError(t, s.End(otelsession.Success, ""))
		assert.Empty(t, got())
		assert.Len(t, rec.Ended(), 1, "the global provider records the session")
	})
	t.Run("explicit no-op provider", func(t *testing.T) {
		got := handled(t)
		otelsession.ResetNoopWarning()
		useGlobalTracerProvider(t, tracenoop.NewTracerProvider())
		_, s := otelsession.Start(context.Background(), otelsession.WithTracerProvider(tracenoop.NewTracerProvider()))
		require.NoError(t, s.End(otelsession.Success, ""))
		assert.Empty(t, got(), "the program chose it")
	})
	t.Run("OTEL_SDK_DISABLED", func(t *testing.T) {
		got := handled(t)
		otelsession.ResetNoopWarning()
		useGlobalTracerProvider(t, tracenoop.NewTracerProvider())
		t.Setenv("OTEL_SDK_DISABLED", "true")
		_, s := otelsession.Start(context.Background())
		require.NoError(t, s.End(otelsession.Success, ""))
		assert.Empty(t, got(), "nothing exported is what the program asked for")
	})
}
