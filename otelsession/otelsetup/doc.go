// Package otelsetup builds an OpenTelemetry TracerProvider and MeterProvider
// from the standard OTEL_* environment variables, for programs that use
// otelsession and have no OTel setup of their own.
//
// It is its own module so the otelsession library stays light: this one
// pulls in the OTLP (gRPC and HTTP) exporters.
//
//	func main() {
//		ctx := context.Background()
//		_, shutdown, err := otelsetup.Setup(ctx, otelsetup.WithServiceName("my-crew"))
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer func() {
//			if err := shutdown(ctx); err != nil {
//				log.Print(err)
//			}
//		}()
//		... otelsession.Start(ctx, ...) ...
//	}
//
// What it reads (all optional; see the OpenTelemetry SDK environment
// variable specification):
//
//	OTEL_SDK_DISABLED=true                 no-op providers, nothing exported
//	OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER
//	                                       otlp (default), console, none (metrics: also prometheus)
//	OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT
//	                                       default http://localhost:4318 (http/protobuf)
//	                                       or http://localhost:4317 (grpc): plain, no TLS
//	OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_{TRACES,METRICS}_PROTOCOL
//	                                       http/protobuf (default) or grpc
//	OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _INSECURE, _COMPRESSION ...
//	OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
//	                                       service.instance.id defaults to a random
//	                                       UUID per Setup (one per process)
//	OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_*, OTEL_SPAN_*_LIMIT, OTEL_METRIC_EXPORT_INTERVAL
//
// Exporter selection is done by go.opentelemetry.io/contrib/exporters/autoexport,
// except OTLP with no endpoint variable, which Setup points at the
// specification's default endpoint itself (the Go exporters' own default
// would use TLS). With [WithExportOnlyIfConfigured] a signal whose exporter
// variable is unset is exported only when an OTLP endpoint variable is set.
//
// Setup installs its providers as the OTel globals (otel.SetTracerProvider,
// otel.SetMeterProvider) unless [WithoutGlobals] is given: it is the
// program's setup, and otelsession falls back to the globals.
//
// The shutdown function Setup returns ends the otelsession sessions still
// open (otelsession.Shutdown), then flushes and shuts both providers down,
// and returns every error of the way, joined: defer it in main.
package otelsetup // import "github.com/crewtrace/crewtrace/otelsession/otelsetup"
