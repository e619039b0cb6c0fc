package sessionexporter // import "github.com/crewtrace/crewtrace/exporter/sessionexporter"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/metadata"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink/storesink"
)

// Defaults.
const (
	defaultGracePeriod    = 5 * time.Second
	defaultSessionTimeout = 5 * time.Minute
	defaultMaxSessions    = 10_000
	defaultMaxSpans       = 500_000
	defaultMaxBytes       = 256 << 20
	defaultMaxAttrBytes   = 8 << 10
	defaultMaxEvents      = 128 // the OTel SDKs' default span event count limit
	// defaultMaxRecordSpans lists every span of all but unusually large
	// sessions (a crew session has tens of spans) while bounding a record's
	// span list to ~125 KB of JSON at ~250 bytes a span.
	defaultMaxRecordSpans = 500
	defaultFilePath       = "sessions.jsonl"
	defaultMaxMegabytes   = 100
	defaultMaxBackups     = 5
)

// NewFactory returns the factory of the `session` exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithTraces(createTracesExporter, metadata.TracesStability),
	)
}

func createDefaultConfig() component.Config {
	queue := exporterhelper.NewDefaultQueueConfig()
	// Back-pressure, not loss: when the sink is down long enough to fill the
	// queue, emission waits instead of dropping records.
	queue.BlockOnOverflow = true
	// Retry until the sink takes the records: a long outage fills the queue
	// and then applies back-pressure, instead of dropping records after
	// exporterhelper's default 5 minutes.
	retry := configretry.NewDefaultBackOffConfig()
	retry.MaxElapsedTime = 0
	return &Config{
		GracePeriod:    defaultGracePeriod,
		SessionTimeout: defaultSessionTimeout,
		MaxSessions:    defaultMaxSessions,
		MaxSpans:       defaultMaxSpans,
		MaxBytes:       defaultMaxBytes,
		// Client values are bounded by default: any OTLP client writes them.
		MaxAttributeBytes: defaultMaxAttrBytes,
		MaxEventsPerSpan:  defaultMaxEvents,
		MaxRecordSpans:    defaultMaxRecordSpans,
		// Every call is priced from the embedded table unless turned off.
		Pricing: PricingConfig{Enabled: true},
		// Sink sections are off until present; these are their defaults.
		File: configoptional.Default(sink.FileConfig{
			Path:          defaultFilePath,
			MaxMegabytes:  defaultMaxMegabytes,
			MaxBackups:    defaultMaxBackups,
			Mode:          sink.DefaultFileMode,
			DirectoryMode: sink.DefaultDirectoryMode,
		}),
		HTTP:          configoptional.Default(sink.HTTPConfig{ClientConfig: confighttp.NewDefaultClientConfig()}),
		Postgres:      configoptional.Default(storesink.NewDefaultPostgresConfig()),
		SQLite:        configoptional.Default(storesink.NewDefaultSQLiteConfig()),
		TimeoutConfig: exporterhelper.NewDefaultTimeoutConfig(),
		QueueConfig:   configoptional.Some(queue),
		BackOffConfig: retry,
	}
}

func createTracesExporter(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	return newTracesExporter(ctx, set, cfg.(*Config), time.Now)
}
