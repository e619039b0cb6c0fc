package otelsetup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/uuid"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	otelsemconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/crewtrace/crewtrace/otelsession"
)

// Exporter names, as in OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER.
const (
	ExporterOTLP    = "otlp"
	ExporterConsole = "console"
	ExporterNone    = "none"
)

// The OTLP specification's default endpoints, used when no
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT is set:
// plain HTTP (no TLS) on localhost. The Go OTLP exporters' own default
// would use TLS, which a local collector does not speak.
const (
	DefaultHTTPTracesEndpoint  = "http://localhost:4318/v1/traces"
	DefaultHTTPMetricsEndpoint = "http://localhost:4318/v1/metrics"
	DefaultGRPCEndpoint        = "http://localhost:4317"
)

// Providers are the providers Setup built.
type Providers struct {
	// TracerProvider is an SDK TracerProvider, or a no-op one when
	// OTEL_SDK_DISABLED=true.
	TracerProvider trace.TracerProvider
	// MeterProvider is an SDK MeterProvider, or a no-op one when
	// OTEL_SDK_DISABLED=true.
	MeterProvider metric.MeterProvider
	// Resource describes the process (service.name ...); nil when disabled.
	Resource *resource.Resource
	// TracesExporter and MetricsExporter name what each signal is exported
	// with: ExporterOTLP, ExporterConsole or ExporterNone (plus "prometheus"
	// for metrics when OTEL_METRICS_EXPORTER asks for it).
	TracesExporter, MetricsExporter string
}

// SessionOptions returns the otelsession options that use these providers:
// what otelsession.Start needs when Setup ran WithoutGlobals (otherwise the
// globals are these providers already).
func (p Providers) SessionOptions() []otelsession.Option {
	return []otelsession.Option{otelsession.WithTracerProvider(p.TracerProvider), otelsession.WithMeterProvider(p.MeterProvider)}
}

type config struct {
	serviceName     string
	onlyConfigured  bool
	noGlobals       bool
	spanProcessors  []sdktrace.SpanProcessor
	metricReaders   []sdkmetric.Reader
	resourceOptions []resource.Option
}

// Option configures Setup.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithServiceName sets service.name unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES set it.
func WithServiceName(name string) Option {
	return optionFunc(func(c *config) { c.serviceName = name })
}

// WithExportOnlyIfConfigured exports a signal whose OTEL_<SIGNAL>_EXPORTER
// variable is unset only when an OTLP endpoint variable
// (OTEL_EXPORTER_OTLP_ENDPOINT or the signal's own) is set; otherwise that
// signal is not exported (ExporterNone). Without it the default is OTLP to
// the specification's default endpoint (DefaultHTTPTracesEndpoint ...).
func WithExportOnlyIfConfigured() Option {
	return optionFunc(func(c *config) { c.onlyConfigured = true })
}

// WithoutGlobals leaves the OTel global TracerProvider and MeterProvider as
// they are. Without it Setup installs its providers as the globals, so that
// otelsession sessions started without WithTracerProvider (and any other
// instrumentation that uses the globals) export through them: Setup is the
// program's OTel setup, not a library's. With it, pass
// Providers.SessionOptions to otelsession.Start.
func WithoutGlobals() Option {
	return optionFunc(func(c *config) { c.noGlobals = true })
}

// WithSpanProcessor adds a span processor besides the exporter's, e.g. a
// recorder in tests.
func WithSpanProcessor(sp sdktrace.SpanProcessor) Option {
	return optionFunc(func(c *config) {
		if sp != nil {
			c.spanProcessors = append(c.spanProcessors, sp)
		}
	})
}

// WithMetricReader adds a metric reader besides the exporter's, e.g. a
// ManualReader in tests.
func WithMetricReader(r sdkmetric.Reader) Option {
	return optionFunc(func(c *config) {
		if r != nil {
			c.metricReaders = append(c.metricReaders, r)
		}
	})
}

// WithResourceOptions adds resource options (detectors, attributes). They
// apply before the environment, which wins on conflicts.
func WithResourceOptions(opts ...resource.Option) Option {
	return optionFunc(func(c *config) { c.resourceOptions = append(c.resourceOptions, opts...) })
}

// Setup builds the providers from the environment, installs them as the OTel
// globals (unless WithoutGlobals), and returns them with a shutdown function
// to defer in main.
//
// The shutdown function ends every otelsession session still open
// (Indeterminate), flushes and shuts both providers down; its ctx bounds the
// whole. It returns every error, joined: the sessions' flush, the traces'
// flush and shutdown (an export that failed included) and the metrics'
// shutdown (the last export included).
func Setup(ctx context.Context, opts ...Option) (Providers, func(context.Context) error, error) {
	var c config
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		p := Providers{
			TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider(),
			TracesExporter: ExporterNone, MetricsExporter: ExporterNone,
		}
		if !c.noGlobals {
			otel.SetTracerProvider(p.TracerProvider)
			otel.SetMeterProvider(p.MeterProvider)
		}
		return p, otelsession.Shutdown, nil
	}

	// service.instance.id tells this process's metrics from those of other
	// processes of the same service: without it, a backend that keys series
	// by service (the collector's Prometheus exporter: job and instance)
	// would overwrite one process's counters with another's.
	resOpts := []resource.Option{resource.WithTelemetrySDK(),
		resource.WithAttributes(otelsemconv.ServiceInstanceID(uuid.NewString()))}
	if c.serviceName != "" {
		resOpts = append(resOpts, resource.WithAttributes(otelsemconv.ServiceName(c.serviceName)))
	}
	resOpts = append(resOpts, c.resourceOptions...)
	resOpts = append(resOpts, resource.WithFromEnv())
	res, err := resource.New(ctx, resOpts...)
	if err != nil && res == nil {
		return Providers{}, nil, fmt.Errorf("otelsetup: resource: %w", err)
	}
	// A partial resource (e.g. a malformed OTEL_RESOURCE_ATTRIBUTES entry) is
	// still usable; resource.New reports it alongside.
	res, err = resource.Merge(resource.Default(), res)
	if err != nil {
		return Providers{}, nil, fmt.Errorf("otelsetup: resource: %w", err)
	}

	p := Providers{Resource: res}
	var closers []func(context.Context) error
	fail := func(err error) (Providers, func(context.Context) error, error) {
		for _, cl := range closers {
			_ = cl(ctx)
		}
		return Providers{}, nil, err
	}

	// Traces.
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	p.TracesExporter = exporterName("OTEL_TRACES_EXPORTER", "TRACES", c.onlyConfigured)
	if p.TracesExporter != ExporterNone {
		exp, err := newSpanExporter(ctx, p.TracesExporter)
		if err != nil {
			return fail(fmt.Errorf("otelsetup: trace exporter: %w", err))
		}
		if autoexport.IsNoneSpanExporter(exp) {
			p.TracesExporter = ExporterNone
		} else {
			tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
		}
	}
	for _, sp := range c.spanProcessors {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(sp))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)
	closers = append(closers, tp.Shutdown)

	// Metrics.
	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	p.MetricsExporter = exporterName("OTEL_METRICS_EXPORTER", "METRICS", c.onlyConfigured)
	if p.MetricsExporter != ExporterNone {
		r, err := newMetricReader(ctx, p.MetricsExporter)
		if err != nil {
			return fail(fmt.Errorf("otelsetup: metric reader: %w", err))
		}
		if autoexport.IsNoneMetricReader(r) {
			p.MetricsExporter = ExporterNone
		} else {
			mpOpts = append(mpOpts, sdkmetric.WithReader(r))
		}
	}
	for _, r := range c.metricReaders {
		mpOpts = append(mpOpts, sdkmetric.WithReader(r))
	}
	mp := sdkmetric.NewMeterProvider(mpOpts...)

	p.TracerProvider, p.MeterProvider = tp, mp
	if !c.noGlobals {
		otel.SetTracerProvider(tp)
		otel.SetMeterProvider(mp)
	}
	shutdown := func(ctx context.Context) error {
		// Sessions first, so their spans are ended before the flush. The
		// SDK's span batcher hands an export error met while shutting down
		// to otel.Handle only; ForceFlush returns it, so flush first.
		var errs []error
		if err := otelsession.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("otelsetup: sessions: %w", err))
		}
		if err := errors.Join(tp.ForceFlush(ctx), tp.Shutdown(ctx)); err != nil {
			errs = append(errs, fmt.Errorf("otelsetup: traces: %w", err))
		}
		if err := mp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("otelsetup: metrics: %w", err))
		}
		return errors.Join(errs...)
	}
	return p, shutdown, nil
}

// newSpanExporter builds the exporter of the traces: autoexport's, except
// for OTLP with no endpoint variable, which goes to the specification's
// default endpoint.
func newSpanExporter(ctx context.Context, name string) (sdktrace.SpanExporter, error) {
	if name == ExporterOTLP && !endpointSet("TRACES") {
		switch otlpProtocol("TRACES") {
		case "grpc":
			return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(DefaultGRPCEndpoint))
		case "http/protobuf":
			return otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(DefaultHTTPTracesEndpoint))
		}
		// Another protocol: autoexport names the error.
	}
	return autoexport.NewSpanExporter(ctx)
}

// newMetricReader is newSpanExporter for metrics: a periodic reader over
// the OTLP exporter, as autoexport makes one.
func newMetricReader(ctx context.Context, name string) (sdkmetric.Reader, error) {
	if name == ExporterOTLP && !endpointSet("METRICS") {
		var exp sdkmetric.Exporter
		var err error
		switch otlpProtocol("METRICS") {
		case "grpc":
			exp, err = otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpointURL(DefaultGRPCEndpoint))
		case "http/protobuf":
			exp, err = otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(DefaultHTTPMetricsEndpoint))
		default:
			return autoexport.NewMetricReader(ctx)
		}
		if err != nil {
			return nil, err
		}
		return sdkmetric.NewPeriodicReader(exp), nil
	}
	return autoexport.NewMetricReader(ctx)
}

// endpointSet reports whether an OTLP endpoint variable applies to signal
// (TRACES or METRICS).
func endpointSet(signal string) bool {
	return strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")) != "" ||
		strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT")) != ""
}

// otlpProtocol is the OTLP protocol of signal: its own variable, else
// OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf.
func otlpProtocol(signal string) string {
	if v := strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL")); v != "" {
		return v
	}
	if v := strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")); v != "" {
		return v
	}
	return "http/protobuf"
}

// exporterName is what a signal will be exported with: the first entry of
// its OTEL_<SIGNAL>_EXPORTER variable, else otlp — or none when
// onlyConfigured and no OTLP endpoint variable is set.
func exporterName(envVar, signal string, onlyConfigured bool) string {
	if v := strings.TrimSpace(os.Getenv(envVar)); v != "" {
		first, _, _ := strings.Cut(v, ",")
		return strings.TrimSpace(first)
	}
	if onlyConfigured && !endpointSet(signal) {
		return ExporterNone
	}
	return ExporterOTLP
}
